import type { Session } from "ssh2";
import type { GitUser } from "../git/access.ts";
import { safeGitProtocol } from "../git/access.ts";
import type { Logger } from "../lib/logger.ts";
import { type GitChannelOptions, runGitChannel } from "./git-channel.ts";
import { parseGitCommand } from "./git-command.ts";
import { NO_SHELL, refuseChannel } from "./refuse.ts";

export interface SessionOptions extends GitChannelOptions {
  logger: Logger;
}

/**
 * One SSH session channel. Today only git's exec commands do work; a shell,
 * any other command or a subsystem is refused with a message. Console and
 * exec into replicas will be further exec/shell handlers here.
 */
export function handleSession(options: SessionOptions, session: Session, user: GitUser): void {
  const env: Record<string, string> = {};

  session.on("env", (accept, reject, info) => {
    const protocol = info.key === "GIT_PROTOCOL" ? safeGitProtocol(info.val) : undefined;
    if (protocol) env.GIT_PROTOCOL = protocol;
    else if (info.key === "BEAMSTALK_CLEAN" && /^(1|true)$/.test(info.val)) env.BEAMSTALK_CLEAN = "1";
    else return reject?.();
    accept?.();
  });
  session.on("pty", (accept) => accept?.());
  session.on("window-change", (accept) => accept?.());
  session.on("signal", (accept) => accept?.());
  session.on("x11", (_accept, reject) => reject?.());
  session.on("auth-agent", (_accept, reject) => reject?.());

  session.on("exec", (accept, _reject, info) => {
    const channel = accept();
    const command = parseGitCommand(info.command);
    if (!command) {
      options.logger.warn("ssh.exec.refused", { user: user.id, command: info.command.slice(0, 200) });
      return refuseChannel(channel, `only git push and git fetch run here. ${NO_SHELL}`);
    }
    runGitChannel(options, channel, user, command, env).catch((err) => {
      options.logger.error("ssh.git.failed", { user: user.id, error: err instanceof Error ? err.message : String(err) });
      if (!channel.destroyed) refuseChannel(channel, "the git server failed; see the server log");
    });
  });
  session.on("shell", (accept) => refuseChannel(accept(), NO_SHELL));
  session.on("subsystem", (accept, _reject, info) => refuseChannel(accept(), `no ${info.name} subsystem. ${NO_SHELL}`));
}
