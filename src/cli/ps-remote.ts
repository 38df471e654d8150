import { BeamstalkError } from "../lib/errors.ts";
import { start } from "../lib/exec.ts";
import { REPLICA_NAME } from "../lib/validate.ts";
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
