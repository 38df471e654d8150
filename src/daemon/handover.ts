import type { Subprocess } from "bun";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { BeamstalkError } from "../lib/errors.ts";
import { exec } from "../lib/exec.ts";
import type { Logger } from "../lib/logger.ts";
import { SERVER_FLAGS, type ServerOptions } from "./options.ts";

/**
 * Upgrading the daemon without dropping traffic (`beamstalk upgrade`).
 *
 * Every listener (HTTP, HTTPS, SSH) is bound with SO_REUSEPORT, so the running
 * daemon starts its successor (the new binary, same flags, `--takeover PID`)
 * as a child, and for a moment both accept on the same ports. The successor
 * opens the state, routes to the running replicas, binds, puts its control
 * socket in place (a rename over the old one) and says `ready` over the IPC
 * channel. Only then does the old daemon stop accepting and stop its loops
 * (supervisor, backups, log collection), tell the successor it is `passive`
 * (the successor starts its loops), and drain: every open connection,
 * WebSockets and long requests included, runs on until it ends or the bound.
 * A successor that fails to start, or is not ready in time, is killed and the
 * old daemon goes on serving. Replicas are never touched.
 *
 * The kernel resets connections still queued at a listening socket that
 * closes, unless net.ipv4.tcp_migrate_req moves them to another socket of the
 * same port: the old daemon switches it on before it stops accepting.
 */

type FromSuccessor = { type: "ready"; pid: number; version: string } | { type: "failed"; error: string };
type ToSuccessor = { type: "passive" };

export interface Successor {
  pid: number;
  version: string;
  /** The old daemon no longer accepts or supervises: the successor takes over the loops. */
  takeOver(): void;
}

/** The running daemon's flags, with the ports it actually bound (a `0` in the flags picked one). */
export function successorArgv(options: ServerOptions, ports: { http: number; https: number; ssh: number }, pid: number): string[] {
  const values: Record<keyof typeof SERVER_FLAGS, string> = {} as never;
  for (const name of Object.keys(SERVER_FLAGS) as (keyof typeof SERVER_FLAGS)[]) values[name] = String(options[name] ?? "");
  values.httpPort = String(ports.http);
  values.httpsPort = String(ports.https);
  values.sshPort = String(ports.ssh);
  const argv = ["server"];
  // Empty ones left out: the successor inherits the environment, so it resolves them as this daemon did.
  for (const [name, value] of Object.entries(values)) if (value !== "") argv.push(`--${SERVER_FLAGS[name as keyof typeof SERVER_FLAGS].flag}`, value);
  return [...argv, "--takeover", String(pid)];
}

/** Starts the new binary as this daemon's successor and waits until it serves (or fails, or `timeoutMs` passes). */
export async function startSuccessor(o: { binary: string; argv: string[]; timeoutMs: number; logger: Logger }): Promise<Successor> {
  if (!existsSync(o.binary)) throw new BeamstalkError("bad_request", `no binary at ${o.binary}`);
  let settle: (m: FromSuccessor | { type: "exited"; code: number | null }) => void = () => {};
  const answer = new Promise<FromSuccessor | { type: "exited"; code: number | null }>((resolve) => (settle = resolve));
  let child: Subprocess;
  try {
    child = Bun.spawn([o.binary, ...o.argv], {
      stdin: "ignore",
      // Its log goes where this daemon's goes (the journal, or the file an init script gave).
      stdout: "inherit",
      stderr: "inherit",
      serialization: "json",
      ipc: (message: FromSuccessor) => settle(message),
      onExit: (_proc, code) => settle({ type: "exited", code }),
    });
  } catch (err) {
    throw new BeamstalkError("bad_request", `the new binary did not start: ${(err as Error).message}`);
  }
  const timer = setTimeout(() => settle({ type: "failed", error: `not ready within ${o.timeoutMs / 1000} s` }), o.timeoutMs);
  const first = await answer;
  clearTimeout(timer);
  if (first.type !== "ready") {
    child.kill("SIGKILL");
    const why = first.type === "exited" ? `it exited (code ${first.code}) before it was ready` : first.error;
    o.logger.error("daemon.upgrade_failed", { binary: o.binary, error: why });
    throw new BeamstalkError("internal", `the new binary did not take over: ${why}; this daemon keeps serving`, "its log lines are in this daemon's log");
  }
  o.logger.info("daemon.successor_ready", { pid: first.pid, version: first.version });
  return {
    pid: first.pid,
    version: first.version,
    takeOver() {
      child.send({ type: "passive" } satisfies ToSuccessor);
      child.disconnect();
      child.unref();
    },
  };
}

/** In the successor: says it serves, then resolves once the old daemon is passive (or gone). */
export function reportReady(version: string): Promise<void> {
  return new Promise((resolve) => {
    const send = process.send?.bind(process);
    if (!send) return resolve();
    process.on("message", (message: ToSuccessor) => {
      if (message?.type === "passive") resolve();
    });
    // The old daemon died without a word: nobody else runs the loops.
    process.on("disconnect", () => resolve());
    send({ type: "ready", pid: process.pid, version } satisfies FromSuccessor);
  });
}

/** In a successor whose boot failed: the reason, for the old daemon's answer to `beamstalk upgrade`. */
export function reportFailure(error: string): void {
  process.send?.({ type: "failed", error } satisfies FromSuccessor);
}

/** So connections queued at the old listening sockets move to the successor's instead of being reset. */
export function migrateQueuedConnections(logger: Logger): void {
  const path = "/proc/sys/net/ipv4/tcp_migrate_req";
  try {
    if (readFileSync(path, "utf8").trim() !== "1") writeFileSync(path, "1");
  } catch (err) {
    logger.warn("daemon.tcp_migrate_req", { error: (err as Error).message, hint: "connections queued at the moment of the switch may be reset" });
  }
}

/** Under systemd (Type=notify, NotifyAccess=all): READY, and on a takeover the new main PID. Nothing without systemd. */
export async function notifySystemd(fields: Record<string, string>, logger: Logger): Promise<void> {
  if (!process.env.NOTIFY_SOCKET) return;
  const result = await exec(["systemd-notify", ...Object.entries(fields).map(([k, v]) => `${k}=${v}`)]).catch((err: Error) => ({ code: 1, stderr: err.message, stdout: "" }));
  if (result.code !== 0) logger.warn("daemon.systemd_notify_failed", { error: result.stderr.trim().slice(0, 200) });
}

/** This daemon serves the data directory now (a successor writes it once it took over). */
export function writePidFile(path: string): void {
  writeFileSync(path, `${process.pid}\n`, { mode: 0o644 });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes("server");
  } catch {
    return false;
  }
}

/**
 * Every listener shares its port (SO_REUSEPORT) so that a successor can bind
 * it; that must not let a second daemon start by mistake. Refused: a live
 * daemon in the pid file (other than the one taken over), or a port another
 * process holds (a bind without SO_REUSEPORT fails where one with it works).
 */
export async function refuseSecondDaemon(o: { pidFile: string; predecessor?: number; hostname: string; ports: number[] }): Promise<void> {
  const pid = existsSync(o.pidFile) ? Number(readFileSync(o.pidFile, "utf8").trim()) : 0;
  if (pid > 0 && pid !== process.pid && pid !== o.predecessor && alive(pid)) {
    throw new BeamstalkError("conflict", `another Beamstalk daemon (pid ${pid}) serves this data directory`, "stop it first, or hand over to a new binary with `beamstalk upgrade`");
  }
  if (o.predecessor !== undefined) return;
  for (const port of o.ports) {
    if (port === 0) continue;
    try {
      const probe = Bun.listen({ hostname: o.hostname, port, socket: { data() {} } });
      probe.stop(true);
    } catch (err) {
      throw new BeamstalkError("conflict", `port ${port} is in use: ${(err as Error).message}`, "another process (or another Beamstalk daemon) listens there");
    }
  }
}
