import { BeamstalkError } from "../lib/errors.ts";
import { checkConfigKey } from "../lib/validate.ts";
import { enc } from "./context.ts";
import { command } from "./define.ts";
import { info, printTable } from "./output.ts";
import { readStdin } from "./prompt.ts";

interface ReleaseJson {
  version: number;
  summary: string;
}

export const config = command({
  name: "config",
  aliases: ["configs"],
  description: "Show an app's config vars",
  app: true,
  data: true,
  async run(_args, cli) {
    const name = await cli.app();
    const vars = await cli.client().get<Record<string, string>>(`/api/apps/${enc(name)}/config`);
    cli.print(vars, () => printTable(Object.entries(vars).map(([key, value]) => ({ key, value })), ["key", "value"], `${name} has no config vars`));
  },
});

/** Splits KEY=VALUE at the first '='; the value may hold more '=' signs and may be empty. */
export function parseAssignments(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [i, pair] of pairs.entries()) {
    const eq = pair.indexOf("=");
    if (eq <= 0) {
      // The argument may be a secret typed without its KEY=: say where, never what.
      throw new BeamstalkError("usage", `expected KEY=VALUE, argument ${i + 1} is not`, "write KEY=VALUE, or use --stdin KEY to read a value from standard input");
    }
    out[checkConfigKey(pair.slice(0, eq))] = pair.slice(eq + 1);
  }
  return out;
}

export const configSet = command({
  name: "config:set",
  description: "Set config vars; each change is a new release",
  variadic: "KEY=VALUE…",
  app: true,
  args: {
    stdin: { type: "string", description: "set this KEY to all of standard input (keeps secrets out of shell history)" },
    restart: { type: "boolean", default: true, description: "roll the change out now (--no-restart: at the next deploy)" },
  },
  async run(args, cli) {
    const set = parseAssignments(args._);
    if (args.stdin) set[checkConfigKey(args.stdin)] = await readStdin();
    if (Object.keys(set).length === 0) throw new BeamstalkError("usage", "nothing to set", "beamstalk config:set KEY=VALUE …");
    const name = await cli.app();
    const rel = await cli.client().patch<ReleaseJson>(`/api/apps/${enc(name)}/config`, { set, restart: args.restart });
    info(`${rel.summary}: ${name} v${rel.version}`);
  },
});

export const configUnset = command({
  name: "config:unset",
  aliases: ["delete_config"],
  description: "Remove config vars; each change is a new release",
  variadic: "KEY…",
  app: true,
  args: { restart: { type: "boolean", default: true, description: "roll the change out now (--no-restart: at the next deploy)" } },
  async run(args, cli) {
    if (args._.length === 0) throw new BeamstalkError("usage", "nothing to unset", "beamstalk config:unset KEY …");
    const unset = args._.map((k) => checkConfigKey(k));
    const name = await cli.app();
    const rel = await cli.client().patch<ReleaseJson>(`/api/apps/${enc(name)}/config`, { unset, restart: args.restart });
    info(`${rel.summary}: ${name} v${rel.version}`);
  },
});

export const configCopy = command({
  name: "config:copy",
  description: "Copy every config var of one app onto another (a new release of the target)",
  args: {
    from: { type: "string", required: true, description: "app to copy from" },
    to: { type: "string", required: true, description: "app to copy to" },
  },
  async run(args, cli) {
    const rel = await cli.client().post<ReleaseJson>(`/api/apps/${enc(args.to)}/config/copy`, { from: args.from });
    info(`${rel.summary}: ${args.to} v${rel.version}`);
  },
});
