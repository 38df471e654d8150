import { isAppName, REPLICA_NAME } from "../lib/validate.ts";

/**
 * The SSH exec commands that operate an app's running replicas, besides git:
 *
 *   ssh APP [REPLICA]                      a shell (bash -l) inside a replica
 *   console APP [REPLICA]                  bin/<release> remote
 *   rpc APP EXPR [--replica REPLICA]       bin/<release> rpc EXPR (on the running node)
 *   eval APP EXPR [--replica REPLICA]      bin/<release> eval EXPR (in a fresh VM)
 *   migrate APP [--migration-app NAME]     <App>.Release.migrate/0, else Ecto.Migrator
 *   psql APP [REPLICA]                     psql on the app's DATABASE_URL, from inside a replica
 *   observer APP [REPLICA]                 an observer session: prints the replica's node and
 *                                          cookie as one JSON line, then holds this connection's
 *                                          port forwards to its EPMD and distribution port
 *                                          (tunnels.ts) until the client closes the channel
 *
 * Two spellings of the same argv, never interpreted by a shell:
 *   - JSON: the whole command is a JSON array of strings, e.g. ["rpc","shop","IO.puts(1)"].
 *     Exact for any argument; the CLI always sends this.
 *   - words, for typing by hand: `console shop web.1`. Words are separated by spaces and
 *     may hold only letters, digits and `._=-`; for rpc and eval everything after
 *     `rpc APP ` is the expression, verbatim (so --replica is JSON only).
 */
export type OpsKind = "ssh" | "console" | "rpc" | "eval" | "migrate" | "psql" | "observer";

export type OpsCommand =
  | { kind: "ssh" | "console" | "psql" | "observer"; app: string; replica?: string }
  | { kind: "rpc" | "eval"; app: string; expr: string; replica?: string }
  | { kind: "migrate"; app: string; migrationApp?: string };

export const OPS_KINDS: readonly OpsKind[] = ["ssh", "console", "rpc", "eval", "migrate", "psql", "observer"];
export const MAX_EXPR_BYTES = 64 * 1024;
/** `web.1`: a process type from the Procfile and a 1-based index. */
export { REPLICA_NAME };
/** An OTP application name (an atom as mix writes it). */
export const OTP_APP = /^[a-z][a-z0-9_]{0,62}$/;
const WORD = /^[A-Za-z0-9._=-]+$/;

export type ParseResult = { ok: true; command: OpsCommand } | { ok: false; message: string } | null;

/** The argv the CLI sends, as one SSH command string. */
export function formatOpsCommand(argv: readonly string[]): string {
  return JSON.stringify(argv);
}

/**
 * null when the command is none of ours (git's, or anything else); a message
 * when it is one of ours but malformed; else the command.
 */
export function parseOpsCommand(command: string): ParseResult {
  const argv = command.startsWith("[") ? jsonArgv(command) : wordArgv(command);
  if (argv === null) return null;
  if (!OPS_KINDS.includes(argv[0] as OpsKind)) return null;
  return fromArgv(argv);
}

function jsonArgv(command: string): string[] | null {
  try {
    const value: unknown = JSON.parse(command);
    if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "string")) return value as string[];
  } catch {
    // not JSON: none of ours
  }
  return null;
}

function wordArgv(command: string): string[] | null {
  const kind = command.split(" ", 1)[0]!;
  if (kind === "rpc" || kind === "eval") {
    const match = /^(rpc|eval) ([^ ]+) (.*)$/s.exec(command);
    if (!match) return [kind, ...command.slice(kind.length).trim().split(/ +/).filter(Boolean)];
    return [match[1]!, match[2]!, match[3]!];
  }
  const words = command.trim().split(/ +/);
  return words.every((w) => WORD.test(w)) ? words : null;
}

const USAGE: Record<OpsKind, string> = {
  ssh: "ssh APP [REPLICA]",
  console: "console APP [REPLICA]",
  rpc: "rpc APP EXPR [--replica REPLICA]",
  eval: "eval APP EXPR [--replica REPLICA]",
  migrate: "migrate APP [--migration-app NAME]",
  psql: "psql APP [REPLICA]",
  observer: "observer APP [REPLICA]",
};

function badReplica(replica: string): ParseResult {
  return { ok: false, message: `invalid replica ${JSON.stringify(replica.slice(0, 64))}; replicas are named like web.1` };
}

function fromArgv(argv: string[]): ParseResult {
  const kind = argv[0] as OpsKind;
  const usage = { ok: false as const, message: `usage: ${USAGE[kind]}` };
  const app = argv[1];
  if (app === undefined) return usage;
  if (!isAppName(app)) return { ok: false, message: `invalid app name ${JSON.stringify(String(app).slice(0, 64))}` };
  switch (kind) {
    case "ssh":
    case "console":
    case "psql":
    case "observer": {
      if (argv.length > 3) return usage;
      const replica = argv[2];
      if (replica === undefined) return { ok: true, command: { kind, app } };
      if (!REPLICA_NAME.test(replica)) return badReplica(replica);
      return { ok: true, command: { kind, app, replica } };
    }
    case "rpc":
    case "eval": {
      const expr = argv[2];
      const named = argv.length === 5 && argv[3] === "--replica";
      if ((argv.length !== 3 && !named) || expr === undefined || expr.trim() === "") return usage;
      if (Buffer.byteLength(expr) > MAX_EXPR_BYTES) return { ok: false, message: `the expression is larger than ${MAX_EXPR_BYTES / 1024} KiB` };
      if (expr.includes("\0")) return { ok: false, message: "the expression holds a NUL byte" };
      if (!named) return { ok: true, command: { kind, app, expr } };
      const replica = argv[4]!;
      if (!REPLICA_NAME.test(replica)) return badReplica(replica);
      return { ok: true, command: { kind, app, expr, replica } };
    }
    case "migrate": {
      const rest = argv.slice(2);
      if (rest.length === 0) return { ok: true, command: { kind, app } };
      let name: string | undefined;
      if (rest.length === 2 && rest[0] === "--migration-app") name = rest[1];
      else if (rest.length === 1 && rest[0]!.startsWith("--migration-app=")) name = rest[0]!.slice("--migration-app=".length);
      else return usage;
      if (!name || !OTP_APP.test(name)) return { ok: false, message: `invalid migration app ${JSON.stringify((name ?? "").slice(0, 64))}; give an OTP application name such as my_app` };
      return { ok: true, command: { kind, app, migrationApp: name } };
    }
  }
}
