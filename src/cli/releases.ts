import { enc } from "./context.ts";
import { command } from "./define.ts";
import { printTable } from "./output.ts";

export const releases = command({
  name: "releases",
  description: "List an app's releases, newest first",
  app: true,
  data: true,
  async run(_args, cli) {
    const name = await cli.app();
    const list = await cli.client().get<Record<string, unknown>[]>(`/api/apps/${enc(name)}/releases`);
    const rows = list.map((r) => ({ ...r, version: `v${r.version}` }));
    cli.print(list, () => printTable(rows, ["version", "status", "created_at", "created_by", "summary"], `${name} has no releases yet`));
  },
});
