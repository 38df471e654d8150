import { randomBytes } from "node:crypto";
import { once } from "node:events";
import type { Readable, Writable } from "node:stream";
import type { ServerChannel } from "ssh2";
import { type GitAccessOptions, type GitUser, MFA_SETUP_MESSAGE } from "../git/access.ts";
import type { Logger } from "../lib/logger.ts";
import type { ExecSession, Runner, TerminalSize } from "../runner/types.ts";
import type { OpsCommand, OpsKind } from "./ops-command.ts";
import { pickReplica, replicaName } from "./pick-replica.ts";
import { refuseChannel } from "./refuse.ts";
import { findRelease } from "../deploy/beam.ts";
import { RELEASE_NAME_FILE, type ReleaseInfo, replicaCommand } from "./release-command.ts";
import { holdObserverSession } from "./observer-channel.ts";
import type { Tunnels } from "./tunnels.ts";

/** What the SSH server needs to operate running apps; without it those commands are refused. */
export interface OpsOptions {
  runner: Pick<Runner, "list" | "exec" | "connect">;
  /** Writes apps:activity (boot: state.apps.byName + state.activity.record). */
  recordActivity(app: string, user: GitUser, action: string, detail: string): void;
}

/** The client's terminal, when it asked for one (`ssh -t`); resizes arrive through onResize. */
export interface Terminal {
  term: string;
  size: TerminalSize;
  onResize?: (size: TerminalSize) => void;
}

const DOING: Record<OpsKind, string> = {
  ssh: "Opened a shell",
  console: "Opened a remote console",
  rpc: "Ran rpc",
  eval: "Ran eval",
  migrate: "Ran migrations",
  psql: "Opened psql",
  observer: "Opened an observer session",
};

/**
 * One ops session: the caller must be owner, admin or collaborator (a viewer is
 * refused, a stranger sees "not found"); then a running replica is picked, the
 * session is recorded (kind and replica, never the expression), and the
 * command runs inside the replica with the channel as its terminal or pipes.
 */
export async function runOpsChannel(
  options: GitAccessOptions & { ops?: OpsOptions; logger: Logger },
  channel: ServerChannel,
  user: GitUser,
  command: OpsCommand,
  terminal: Terminal | null,
  /** This SSH connection's port forwards, which an observer session opens. */
  tunnels?: Tunnels,
): Promise<void> {
  const { ops, logger } = options;
  const verdict = options.appExists(command.app) ? options.authorize(user, command.app, "write") : "not_found";
  if (verdict === "not_found") return refuseChannel(channel, `app ${command.app} not found; \`beamstalk apps\` lists the apps you can use`);
  if (verdict === "mfa_setup") return refuseChannel(channel, MFA_SETUP_MESSAGE);
  if (verdict === "forbidden") {
    return refuseChannel(channel, `your access to app ${command.app} does not allow ${command.kind}; ask the app's owner for collaborator access`);
  }
  if (!ops) return refuseChannel(channel, `${command.kind} is not available on this server`);
  // OTP 25's IEx attaches to a remote node only on a terminal; without one it would evaluate locally.
  if (command.kind === "console" && !terminal) return refuseChannel(channel, "console needs a terminal: ssh -t (the CLI asks for one when run in a terminal); for scripts use rpc or eval");

  const choice = pickReplica(command.app, await ops.runner.list(command.app), "replica" in command ? command.replica : undefined);
  if (!choice.ok) return refuseChannel(channel, choice.message);
  const replica = choice.replica;
  let release: ReleaseInfo | null = null;
  if (command.kind !== "ssh" && command.kind !== "psql") {
    release = await findRelease(ops.runner, replica.id, { fromBin: true });
    if (!release) return refuseChannel(channel, `no Elixir release found in ${replicaName(replica)} (no ${RELEASE_NAME_FILE}, no single executable in /app/bin); ${command.kind} needs a mix or Distillery release`);
  }
  if (command.kind === "observer") {
    if (!tunnels || !release) return refuseChannel(channel, "observer is not available on this server");
    return holdObserverSession({ ops, logger }, channel, { app: command.app, user, replica, release, tunnels });
  }
  const { argv, env } = replicaCommand(command, release);
  const where = `${replicaName(replica)} (v${replica.release})`;
  const log = { app: command.app, user: user.id, kind: command.kind, replica: replicaName(replica), release: replica.release, pty: terminal !== null };
  ops.recordActivity(command.app, user, `ps.${command.kind}`, `${DOING[command.kind]} on ${where}`);
  logger.info("ssh.ops.start", log);
  const began = performance.now();

  const tty = terminal !== null;
  // Without a terminal no hang-up reaches the process when the connection drops, and Docker
  // cannot kill an exec: it notes its pid, so the connection's end can end its process group.
  const pidFile = tty ? null : `/tmp/.beamstalk-exec-${randomBytes(8).toString("hex")}.pid`;
  const proc = await ops.runner.exec(replica.id, pidFile ? withPidFile(pidFile, argv) : argv, { tty, env: terminal ? { ...env, TERM: terminal.term } : env, ...(terminal ? { size: terminal.size } : {}) });
  if (terminal) terminal.onResize = (size) => void proc.resize(size);
  let exited = false;
  if (pidFile) {
    channel.once("close", () => {
      if (exited) return;
      logger.info("ssh.ops.hangup", { ...log });
      void ops.runner
        .exec(replica.id, killGroupArgv(pidFile), { tty: false })
        .then((kill) => kill.exited)
        .catch((err) => logger.warn("ssh.ops.hangup_failed", { ...log, error: (err as Error).message }));
    });
  }
  const code = await pipeSession(channel, proc, tty);
  exited = true;
  if (pidFile) void ops.runner.exec(replica.id, ["rm", "-f", "--", pidFile], { tty: false }).then((rm) => rm.exited).catch(() => {});
  logger.info("ssh.ops.exit", { ...log, code, ms: Math.round(performance.now() - began) });
  if (channel.destroyed) return;
  channel.exit(code);
  channel.end();
}

/**
 * argv run by a fixed script that first writes its pid (a docker exec's
 * process leads its own process group) to `pidFile`; argv are the script's
 * arguments, never part of its text.
 */
export function withPidFile(pidFile: string, argv: string[]): string[] {
  return ["/bin/sh", "-c", 'echo "$$" > "$0" && exec "$@"', pidFile, ...argv];
}

/** Ends the process group whose leader's pid is in `pidFile` (TERM, then KILL after 5 s), and removes the file. */
export function killGroupArgv(pidFile: string): string[] {
  // Debian's sh is dash, whose kill takes no `--`: a negative pid right after the signal is a group.
  return ["/bin/sh", "-c", 'p=$(cat "$0") || exit 0; kill -TERM "-$p" 2>/dev/null; for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "-$p" 2>/dev/null || break; sleep 0.5; done; kill -KILL "-$p" 2>/dev/null; rm -f "$0"', pidFile];
}

/** Copies both ways until the process exits and its output is flushed; returns its exit code. */
async function pipeSession(channel: ServerChannel, proc: ExecSession, tty: boolean): Promise<number> {
  channel.on("data", (chunk: Buffer) => {
    if (!proc.stdin.write(chunk)) {
      channel.pause();
      proc.stdin.once("drain", () => channel.resume());
    }
  });
  channel.on("end", () => proc.stdin.end());
  channel.on("close", () => proc.close());
  const copies = [copy(proc.stdout, channel)];
  if (!tty) copies.push(copy(proc.stderr, channel.stderr));
  const [code] = await Promise.all([proc.exited, ...copies]);
  return code;
}

async function copy(from: Readable, to: Writable): Promise<void> {
  try {
    for await (const chunk of from) {
      if (to.destroyed) continue;
      if (!to.write(chunk)) await Promise.race([once(to, "drain"), once(to, "close")]);
    }
  } catch {
    // the session closed; the exit status tells the rest
  }
}
