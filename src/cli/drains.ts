import { BeamstalkError } from "../lib/errors.ts";
import { enc } from "./context.ts";
import { command } from "./define.ts";
import { info, printTable } from "./output.ts";

interface DrainJson {
  id: number;
  url: string;
  connected: boolean;
  missed: number;
  sent: number;
  last_error: string | null;
}

export const drains = command({
  name: "drains",
  aliases: ["log_drains"],
  description: "List an app's log drains, with lines sent and missed (dropped while a drain was down or slow) since the server started",
  app: true,
  data: true,
  async run(_args, cli) {
    const name = await cli.app();
    const list = await cli.client().get<DrainJson[]>(`/api/apps/${enc(name)}/drains`);
    const rows = list.map((d) => ({ ...d, state: d.connected ? "connected" : d.last_error ? `down: ${d.last_error}` : "connecting" }));
    cli.print(list, () => printTable(rows, ["id", "url", "sent", "missed", "state"], `${name} has no drains: beamstalk drains:add syslog+tls://logs.example.com:6514`));
  },
});

export const drainsAdd = command({
  name: "drains:add",
  aliases: ["add_log_drain"],
  description: "Send an app's log to a drain: syslog://host:port (TCP), syslog+tls://host:port, or https://… (batches of JSON lines)",
  app: true,
  data: true,
  // not `url`: every command's --url is the server's
  args: { drain_url: { type: "positional", required: true, description: "the drain's URL" } },
  async run(args, cli) {
    const name = await cli.app();
    const added = await cli.client().post<DrainJson>(`/api/apps/${enc(name)}/drains`, { url: args.drain_url });
    cli.print(added, () => info(`Added drain ${added.id} (${added.url}) to ${name}`));
  },
});

export const drainsRemove = command({
  name: "drains:remove",
  aliases: ["delete_log_drain"],
  description: "Stop sending an app's log to a drain, by its id from `beamstalk drains`",
  app: true,
  args: { id: { type: "positional", required: true, description: "the drain's id" } },
  async run(args, cli) {
    if (!/^\d+$/.test(args.id)) throw new BeamstalkError("usage", `not a drain id: ${args.id.slice(0, 20)}`, "`beamstalk drains` lists them");
    const name = await cli.app();
    await cli.client().delete(`/api/apps/${enc(name)}/drains/${args.id}`);
  },
});
