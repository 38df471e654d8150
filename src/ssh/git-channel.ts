import { once } from "node:events";
import type { ServerChannel } from "ssh2";
import type { Writable } from "node:stream";
import { decideAccess, type GitAccessOptions, type GitUser, gitProcessEnv } from "../git/access.ts";
import { createIdleTimer } from "../git/idle-timer.ts";
import { pipes } from "../git/pipes.ts";
import { ensureRepo } from "../git/repos.ts";
import { start } from "../lib/exec.ts";
import type { Logger } from "../lib/logger.ts";
import type { GitCommand } from "./git-command.ts";
import { refuseChannel } from "./refuse.ts";

export interface GitChannelOptions extends GitAccessOptions {
  reposDir: string;
  hookCommand: readonly string[];
  logger: Logger;
  hookEnv(user: GitUser, app: string): Record<string, string>;
  /** Kill git when no byte moves either way for this long. Default 10 minutes. */
  idleTimeoutMs?: number;
}

/**
 * The user's access is checked before the channel is accepted for work;
 * then `git receive-pack` / `git upload-pack` runs with the channel as its
 * stdin, stdout and stderr, and its exit status goes back to the client.
 */
export async function runGitChannel(
  options: GitChannelOptions,
  channel: ServerChannel,
  user: GitUser,
  command: GitCommand,
  sessionEnv: Record<string, string>,
): Promise<void> {
  const need = command.service === "git-receive-pack" ? "write" : "read";
  const access = decideAccess(options, user, command.app, need);
  if (!access.ok) return refuseChannel(channel, access.message);
  const log = { app: command.app, service: command.service, user: user.id };
  let path: string;
  try {
    path = await ensureRepo(options, command.app);
  } catch (err) {
    options.logger.error("git.ssh.failed", { ...log, error: err instanceof Error ? err.message : String(err) });
    return refuseChannel(channel, "the git server failed; see the server log");
  }
  const argv = command.service === "git-receive-pack" ? ["git", "receive-pack", "--", path] : ["git", "upload-pack", "--strict", "--", path];
  const env = { ...gitProcessEnv(user, options.hookEnv(user, command.app)), ...sessionEnv };
  options.logger.info("git.ssh.rpc", log);
  const proc = start(argv, { env, cleanEnv: true, stdin: "pipe" });
  const { stdin, stdout, stderr } = pipes(proc);
  const idleMs = options.idleTimeoutMs ?? 10 * 60_000;
  const timer = createIdleTimer(idleMs, () => {
    options.logger.warn("git.ssh.stalled", { ...log, idle_ms: idleMs });
    proc.kill();
  });

  channel.on("data", (chunk: Buffer) => {
    timer.touch();
    stdin.write(chunk);
    const flushed = stdin.flush();
    if (flushed instanceof Promise) {
      channel.pause();
      flushed.then(() => channel.resume(), () => channel.resume());
    }
  });
  channel.on("end", () => void Promise.resolve(stdin.end()).catch(() => {}));
  channel.on("close", () => {
    if (proc.exitCode === null) proc.kill();
  });

  const [, , code] = await Promise.all([copy(stdout, channel, timer.touch), copy(stderr, channel.stderr, timer.touch), proc.exited]);
  timer.stop();
  if (code !== 0) options.logger.warn("git.ssh.exit", { ...log, code });
  channel.exit(code);
  channel.end();
}

async function copy(from: ReadableStream<Uint8Array>, to: Writable, touch: () => void): Promise<void> {
  try {
    for await (const chunk of from) {
      touch();
      if (to.destroyed) continue;
      if (!to.write(chunk)) await Promise.race([once(to, "drain"), once(to, "close")]);
    }
  } catch {
    // the process died or the channel closed; the exit status tells the rest
  }
}
