import { type ArgsDef, type CommandDef, type ParsedArgs, defineCommand } from "citty";
import { BeamstalkError } from "../lib/errors.ts";
import { Cli } from "./context.ts";

const COMMON = {
  url: { type: "string", description: "server URL (default: BEAMSTALK_URL, or the one remembered at login)" },
} as const satisfies ArgsDef;

const DATA = { json: { type: "boolean", description: "print data as JSON" } } as const satisfies ArgsDef;

const APP = {
  app: {
    type: "string",
    alias: "a",
    description: "the app (or as the first argument, as GIGALIXIR writes it: `scale APP --replicas=2`; default: the app of this directory's `beamstalk` git remote)",
  },
} as const satisfies ArgsDef;

export interface CommandSpec<A extends ArgsDef = ArgsDef> {
  name: string;
  description: string;
  /** GIGALIXIR's older names for the same command. */
  aliases?: string[];
  args?: A;
  /** Takes -a/--app. */
  app?: boolean;
  /** Prints data, so takes --json. */
  data?: boolean;
  /** Takes any number of positional arguments, described by this hint (e.g. "KEY=VALUE…"). */
  variadic?: string;
  /** rawArgs: the arguments as typed (e.g. to tell whether there was a `--`). */
  run(args: ParsedArgs<A>, cli: Cli, rawArgs: string[]): Promise<void>;
}

/** Builds a citty command with the shared flags, and refuses unknown flags and stray arguments. */
export function command<const A extends ArgsDef>(spec: CommandSpec<A>): CommandSpec<A> {
  return spec;
}

export function toCitty(spec: CommandSpec<any>): CommandDef<any> {
  const args: ArgsDef = { ...(spec.args ?? {}), ...(spec.app ? APP : {}), ...(spec.data ? DATA : {}), ...COMMON };
  return defineCommand({
    meta: {
      name: spec.name,
      description: spec.description + (spec.variadic ? ` (arguments: ${spec.variadic})` : ""),
      ...(spec.aliases ? { alias: spec.aliases } : {}),
    },
    args,
    async run({ args: parsed, rawArgs }) {
      checkFlags(rawArgs, args);
      const declared = Object.values(args).filter((a) => a.type === "positional").length;
      if (spec.app && !spec.variadic) appFromFirstArgument(parsed, args);
      if (!spec.variadic && parsed._.length > declared) {
        throw new BeamstalkError("usage", `unexpected argument ${JSON.stringify(parsed._[declared])}`, `see \`beamstalk ${spec.name} --help\``);
      }
      await spec.run(parsed, new Cli(parsed as Record<string, unknown>), rawArgs);
    },
  });
}

/**
 * GIGALIXIR's CLI takes the app as the first positional argument (`scale APP --replicas=2`,
 * `domains:add APP DOMAIN`). One argument more than the command declares is that app; the rest
 * move down to their names. -a/--app still works; both given and different is an error.
 */
export function appFromFirstArgument(parsed: { _: string[]; [name: string]: unknown }, args: ArgsDef): void {
  const names = Object.entries(args).filter(([, a]) => a.type === "positional").map(([name]) => name);
  if (parsed._.length !== names.length + 1) return;
  const [app, ...rest] = parsed._ as [string, ...string[]];
  if (parsed.app !== undefined && parsed.app !== app) {
    throw new BeamstalkError("usage", `two apps given: ${JSON.stringify(app)} and -a ${JSON.stringify(parsed.app)}`, "give the app once, as the first argument or with -a");
  }
  parsed.app = app;
  parsed._ = rest;
  names.forEach((name, i) => (parsed[name] = rest[i]));
}

/** citty accepts any flag; a typo must not be silently ignored. */
export function checkFlags(rawArgs: string[], args: ArgsDef): void {
  const long = new Set<string>();
  const short = new Set<string>();
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") continue;
    long.add(name);
    if (def.type === "boolean") long.add(`no-${name}`);
    for (const alias of ["alias" in def && def.alias ? def.alias : []].flat()) (alias.length === 1 ? short : long).add(alias);
  }
  for (const token of rawArgs) {
    if (token === "--") break;
    if (token.startsWith("--")) {
      const name = token.slice(2).split("=", 1)[0]!;
      if (!long.has(name)) throw unknownFlag(token.split("=", 1)[0]!);
    } else if (token.startsWith("-") && token.length > 1 && !/^-\d/.test(token)) {
      if (!short.has(token.slice(1))) throw unknownFlag(token);
    }
  }
}

function unknownFlag(flag: string): BeamstalkError {
  return new BeamstalkError("usage", `unknown flag ${flag}`, "add --help to see the flags this command takes");
}
