import { enc } from "./context.ts";
import { command } from "./define.ts";
import { BeamstalkError } from "../lib/errors.ts";
import { info, printTable } from "./output.ts";

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

export const releasesRollback = command({
  name: "releases:rollback",
  aliases: ["rollback"],
  description: "Deploy an earlier release's code and config as a new release, without building (default: the one before the current)",
  app: true,
  data: true,
  args: { version: { type: "string", alias: "r", description: "release to roll back to, e.g. 3 or v3" } },
  async run(args, cli) {
    const name = await cli.app();
    let version: number | undefined;
    if (args.version !== undefined) {
      version = Number(args.version.replace(/^v/, ""));
      if (!Number.isSafeInteger(version) || version < 1) throw new BeamstalkError("usage", `not a release number: ${args.version}`, "`beamstalk releases` lists them");
    }
    info(`Rolling back ${name}${version ? ` to v${version}` : ""}…`);
    const rel = await cli.client().post<{ version: number; summary: string }>(`/api/apps/${enc(name)}/releases/rollback`, version ? { version } : {});
    cli.print(rel, () => info(`${rel.summary}: ${name} v${rel.version} is live`));
  },
});
