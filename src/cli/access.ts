import { enc } from "./context.ts";
import { command } from "./define.ts";
import { printTable } from "./output.ts";

export const access = command({
  name: "access",
  description: "Who can use an app, and with which role",
  app: true,
  data: true,
  async run(_args, cli) {
    const name = await cli.app();
    const list = await cli.client().get<Record<string, unknown>[]>(`/api/apps/${enc(name)}/access`);
    cli.print(list, () => printTable(list, ["email", "role", "since"]));
  },
});

export const accessAdd = command({
  name: "access:add",
  description: "Share an app: collaborators deploy and configure, viewers only read",
  app: true,
  args: {
    email: { type: "positional", required: true, description: "the account to share with" },
    role: { type: "enum", options: ["collaborator", "viewer"], default: "collaborator", description: "collaborator or viewer" },
  },
  async run(args, cli) {
    const name = await cli.app();
    await cli.client().post(`/api/apps/${enc(name)}/access`, { email: args.email, role: args.role });
  },
});

export const accessRemove = command({
  name: "access:remove",
  description: "Stop sharing an app with someone",
  app: true,
  args: { email: { type: "positional", required: true, description: "the account to remove" } },
  async run(args, cli) {
    const name = await cli.app();
    await cli.client().delete(`/api/apps/${enc(name)}/access/${enc(args.email)}`);
  },
});
