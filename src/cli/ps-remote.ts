import { BeamstalkError } from "../lib/errors.ts";
import { start } from "../lib/exec.ts";
import { checkAppName, isAppName, REPLICA_NAME } from "../lib/validate.ts";
import type { Cli } from "./context.ts";
import { command } from "./define.ts";

/**
 * Commands that operate a running app through the server's SSH port with the
 * system `ssh` client and the caller's own key (added with account:ssh_keys:add).
 * The remote command is the argv as a JSON array (the syntax src/ssh/ops-command.ts
 * reads; the server checks every part again), one argv element here: no shell anywhere.
 */
const OTP_APP = /^[a-z][a-z0-9_]{0,62}$/;

export interface SshTarget {
  host: string;
  port: number;
  /** BEAMSTALK_SSH_CONFIG: an ssh_config file passed with -F. */
  config?: string;
}

export function sshArgv(target: SshTarget, argv: readonly string[], interactive: boolean): string[] {
  return [
    "ssh",
    ...(target.config ? ["-F", target.config] : []),
    "-p", String(target.port),
    interactive ? "-t" : "-T",
    "-o", "ForwardAgent=no",
    "-o", "ForwardX11=no",
    "--",
    `git@${target.host}`,
    JSON.stringify(argv),
  ];
}

/** The server's host (from its URL) and SSH port (BEAMSTALK_SSH_PORT, else /api/health's ssh_port). */
export async function sshTarget(cli: Cli): Promise<SshTarget> {
  const url = new URL(cli.serverUrl());
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  let port = Number(cli.env.BEAMSTALK_SSH_PORT || NaN);
  if (cli.env.BEAMSTALK_SSH_PORT && !validPort(port)) throw new BeamstalkError("usage", `BEAMSTALK_SSH_PORT is not a port: ${cli.env.BEAMSTALK_SSH_PORT}`);
  if (!validPort(port)) {
    const health = await cli.anonymous().get<{ ssh_port?: number }>("/api/health");
    port = Number(health?.ssh_port);
    if (!validPort(port)) throw new BeamstalkError("unreachable", "the server did not tell its SSH port", "set BEAMSTALK_SSH_PORT to the server's SSH port");
  }
  return { host, port, ...(cli.env.BEAMSTALK_SSH_CONFIG ? { config: cli.env.BEAMSTALK_SSH_CONFIG } : {}) };
}

function validPort(port: number): boolean {
  return Number.isInteger(port) && port > 0 && port < 65536;
}

/** Runs ssh with this terminal as its own; exits with ssh's status (the remote command's, or 255). */
export async function runRemote(cli: Cli, argv: string[], interactive: boolean): Promise<void> {
  const target = await sshTarget(cli);
  const tty = interactive && process.stdin.isTTY === true;
  let code: number;
  try {
    const proc = start(sshArgv(target, argv, tty), { stdin: "inherit", stdout: "inherit", stderr: "inherit" });
    code = await proc.exited;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new BeamstalkError("unreachable", "the ssh client is not installed", "install OpenSSH's client (apt-get install openssh-client)");
    throw err;
  }
  if (code !== 0) process.exit(code);
}

export function replicaArg(value: string | undefined): string[] {
  if (value === undefined) return [];
  if (!REPLICA_NAME.test(value)) throw new BeamstalkError("usage", `not a replica name: ${value}`, "replicas are named like web.1; `beamstalk ps` lists them");
  return [value];
}

/** rpc and eval name their replica with an option: the expression is the positional argument. */
function replicaOption(value: string | undefined): string[] {
  return replicaArg(value).flatMap((name) => ["--replica", name]);
}

const REPLICA = { replica: { type: "string", description: "the replica, e.g. web.1 (default: the first running web replica)" } } as const;
const EXPR = { expr: { type: "positional", required: true, description: "the Elixir expression (quote it for your shell)" } } as const;

export const psSsh = command({
  name: "ps:ssh",
  aliases: ["ssh"],
  description: "Open a shell (bash -l) inside one of the app's running replicas",
  app: true,
  args: REPLICA,
  async run(args, cli) {
    await runRemote(cli, ["ssh", await cli.app(), ...replicaArg(args.replica)], true);
  },
});

export const psRemoteConsole = command({
  name: "ps:remote_console",
  aliases: ["remote_console"],
  description: "Attach an IEx console to a running replica's node (bin/<release> remote)",
  app: true,
  args: REPLICA,
  async run(args, cli) {
    const argv = ["console", await cli.app(), ...replicaArg(args.replica)];
    if (process.stdin.isTTY !== true) throw new BeamstalkError("usage", "ps:remote_console needs a terminal", "run it in a terminal; for scripts use `beamstalk ps:rpc EXPR`");
    await runRemote(cli, argv, true);
  },
});

export const psRpc = command({
  name: "ps:rpc",
  description: "Evaluate an Elixir expression on a running replica's node (bin/<release> rpc); its exit status is this command's",
  app: true,
  args: { ...EXPR, ...REPLICA },
  async run(args, cli) {
    await runRemote(cli, ["rpc", await cli.app(), args.expr, ...replicaOption(args.replica)], false);
  },
});

export const psEval = command({
  name: "ps:eval",
  description: "Evaluate an Elixir expression in a fresh VM inside a replica (bin/<release> eval), with the app's code and config",
  app: true,
  args: { ...EXPR, ...REPLICA },
  async run(args, cli) {
    await runRemote(cli, ["eval", await cli.app(), args.expr, ...replicaOption(args.replica)], false);
  },
});

export const psMigrate = command({
  name: "ps:migrate",
  aliases: ["migrate"],
  description: "Run database migrations in a replica: <App>.Release.migrate/0 when the release has it, else Ecto.Migrator over the app's repos",
  app: true,
  args: { "migration-app": { type: "string", alias: ["migration_app_name", "m"], description: "the OTP app whose migrations run (an umbrella's child app; default: the release's name)" } },
  async run(args, cli) {
    const name = args["migration-app"];
    if (name !== undefined && !OTP_APP.test(name)) throw new BeamstalkError("usage", `not an OTP application name: ${name}`, "give a name such as my_app");
    await runRemote(cli, ["migrate", await cli.app(), ...(name ? ["--migration-app", name] : [])], false);
  },
});

/** GIGALIXIR's `distillery COMMAND`: the release commands it names, each onto an SSH operation of the server. */
const RELEASE_COMMANDS: Record<string, { args: number; ops: (app: string, args: string[], replica: string | undefined) => string[]; interactive?: true }> = {
  ping: { args: 0, ops: (app, _, r) => ["rpc", app, "IO.puts(:pong)", ...replicaOption(r)] },
  pid: { args: 0, ops: (app, _, r) => ["rpc", app, "IO.puts(System.pid())", ...replicaOption(r)] },
  rpc: { args: 1, ops: (app, [expr], r) => ["rpc", app, expr!, ...replicaOption(r)] },
  eval: { args: 1, ops: (app, [expr], r) => ["eval", app, expr!, ...replicaOption(r)] },
  remote_console: { args: 0, ops: (app, _, r) => ["console", app, ...replicaArg(r)], interactive: true },
  remote: { args: 0, ops: (app, _, r) => ["console", app, ...replicaArg(r)], interactive: true },
};

/**
 * `distillery [APP] COMMAND [ARG]` → the SSH operation's argv and whether it needs a terminal.
 * The app comes first when the first word is no release command (GIGALIXIR's `distillery APP ping`).
 */
export function releaseCommand(words: string[], appFlag: string | undefined, replica: string | undefined): { app?: string; argv: (app: string) => string[]; interactive: boolean } {
  const known = (word: string | undefined) => word !== undefined && Object.hasOwn(RELEASE_COMMANDS, word);
  const appFirst = words.length > 1 && !known(words[0]) && (known(words[1]) || isAppName(words[0]));
  const [name, ...rest] = appFirst ? words.slice(1) : words;
  const names = Object.keys(RELEASE_COMMANDS).join(", ");
  if (name === undefined) throw new BeamstalkError("usage", "no release command given", `give one of: ${names}`);
  const spec = known(name) ? RELEASE_COMMANDS[name] : undefined;
  if (!spec) throw new BeamstalkError("usage", `not a release command this server runs: ${JSON.stringify(name.slice(0, 40))}`, `give one of: ${names}; for anything else, \`beamstalk ps:ssh\``);
  if (rest.length !== spec.args) throw new BeamstalkError("usage", `${name} takes ${spec.args === 0 ? "no argument" : "one argument (the Elixir expression, quoted for your shell)"}`);
  const app = appFirst ? checkAppName(words[0]) : undefined;
  if (app !== undefined && appFlag !== undefined && appFlag !== app) {
    throw new BeamstalkError("usage", `two apps given: ${JSON.stringify(app)} and -a ${JSON.stringify(appFlag)}`, "give the app once, as the first argument or with -a");
  }
  replicaArg(replica);
  return { ...(app ? { app } : {}), argv: (a) => spec.ops(a, rest, replica), interactive: spec.interactive === true };
}

export const psDistillery = command({
  name: "ps:distillery",
  aliases: ["distillery"],
  description: "Run a release command in a running replica, as GIGALIXIR's distillery does: ping, pid, rpc EXPR, eval EXPR, remote_console",
  variadic: "COMMAND [EXPR]",
  app: true,
  args: REPLICA,
  async run(args, cli) {
    const cmd = releaseCommand(args._.map(String), args.app as string | undefined, args.replica);
    if (cmd.interactive && process.stdin.isTTY !== true) throw new BeamstalkError("usage", "remote_console needs a terminal", "run it in a terminal; for scripts use `beamstalk ps:distillery rpc EXPR`");
    await runRemote(cli, cmd.argv(cmd.app ?? (await cli.app())), cmd.interactive);
  },
});
