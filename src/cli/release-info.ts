import { BeamstalkError } from "../lib/errors.ts";
import { enc } from "./context.ts";
import { command } from "./define.ts";
import { info, printRecord } from "./output.ts";

interface ReleaseInfo {
  version: number;
  status: string;
  summary: string;
  git_sha: string | null;
  process_types: Record<string, string>;
  buildpacks?: string[];
  created_by: string | null;
  created_at: string;
  build_log?: string | null;
}

export const releasesInfo = command({
  name: "releases:info",
  description: "Show one release; --build-log also prints the output of the build that made it",
  app: true,
  data: true,
  args: {
    version: { type: "string", alias: "r", required: true, description: "the release, e.g. 3 or v3" },
    "build-log": { type: "boolean", description: "print the release's saved build output too" },
  },
  async run(args, cli) {
    const version = Number(args.version.replace(/^v/, ""));
    if (!Number.isSafeInteger(version) || version < 1) throw new BeamstalkError("usage", `not a release number: ${args.version}`, "`beamstalk releases` lists them");
    const name = await cli.app();
    const withLog = args["build-log"] === true;
    const rel = await cli.client().get<ReleaseInfo>(`/api/apps/${enc(name)}/releases/${version}${withLog ? "?build_log=true" : ""}`);
    cli.print(rel, () => {
      const { build_log, process_types, buildpacks, ...rest } = rel;
      printRecord({
        ...rest,
        version: `v${rel.version}`,
        process_types: Object.entries(process_types).map(([type, cmd]) => `${type}: ${cmd}`).join("; ") || null,
        buildpacks: buildpacks?.join(", ") || null,
      });
      if (!withLog) return;
      if (build_log) process.stdout.write(`\n${build_log}${build_log.endsWith("\n") ? "" : "\n"}`);
      else info(`v${rel.version} has no saved build log (config changes and rollbacks build nothing)`);
    });
  },
});
