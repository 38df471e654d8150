import type { Session } from "ssh2";
import type { GitUser } from "../git/access.ts";
import { safeGitProtocol } from "../git/access.ts";
import type { Logger } from "../lib/logger.ts";
import { type GitChannelOptions, runGitChannel } from "./git-channel.ts";
import { parseGitCommand } from "./git-command.ts";
import { type OpsOptions, runOpsChannel, type Terminal } from "./ops-channel.ts";
import { parseOpsCommand } from "./ops-command.ts";
import { NO_SHELL, refuseChannel } from "./refuse.ts";
import type { Tunnels } from "./tunnels.ts";

export interface SessionOptions extends GitChannelOptions {
  logger: Logger;
  /** Console, rpc, eval, ssh and migrate in the app's replicas; refused when absent. */
  ops?: OpsOptions;
}

const OPS_HELP = "besides git, these run here: ssh APP [REPLICA], console APP [REPLICA], rpc APP EXPR [--replica R], eval APP EXPR [--replica R], migrate APP [--migration-app NAME], psql APP [REPLICA], observer APP [REPLICA]";

/**
 * One SSH session channel. Exec requests do work: git's two commands, and the
 * ops commands (ops-command.ts) that run inside the caller's own replicas. A
 * shell, any other command or a subsystem is refused with a message.
 */
export function handleSession(options: SessionOptions, session: Session, user: GitUser, tunnels?: Tunnels): void {
  const env: Record<string, string> = {};

  session.on("env", (accept, reject, info) => {
    const protocol = info.key === "GIT_PROTOCOL" ? safeGitProtocol(info.val) : undefined;
    if (protocol) env.GIT_PROTOCOL = protocol;
    else if (info.key === "BEAMSTALK_CLEAN" && /^(1|true)$/.test(info.val)) env.BEAMSTALK_CLEAN = "1";
    else return reject?.();
    accept?.();
  });
  let terminal: Terminal | null = null;
  session.on("pty", (accept, _reject, info) => {
    const term = /^[A-Za-z0-9._+-]{1,64}$/.test(info.term ?? "") ? info.term : "xterm";
    terminal = { term, size: { rows: info.rows || 24, cols: info.cols || 80 } };
    accept?.();
  });
  session.on("window-change", (accept, _reject, info) => {
    if (terminal) {
      terminal.size = { rows: info.rows || terminal.size.rows, cols: info.cols || terminal.size.cols };
      terminal.onResize?.(terminal.size);
    }
    accept?.();
  });
  session.on("signal", (accept) => accept?.());
  session.on("x11", (_accept, reject) => reject?.());
  session.on("auth-agent", (_accept, reject) => reject?.());

  session.on("exec", (accept, _reject, info) => {
    const channel = accept();
    const ops = parseOpsCommand(info.command);
    if (ops && !ops.ok) return refuseChannel(channel, ops.message);
    if (ops) {
      runOpsChannel(options, channel, user, ops.command, terminal, tunnels).catch((err) => {
        options.logger.error("ssh.ops.failed", { user: user.id, app: ops.command.app, kind: ops.command.kind, error: err instanceof Error ? err.message : String(err) });
        if (!channel.destroyed) refuseChannel(channel, `${ops.command.kind} failed; see the server log`);
      });
      return;
    }
    const command = parseGitCommand(info.command);
    if (!command) {
      options.logger.warn("ssh.exec.refused", { user: user.id, command: info.command.slice(0, 200) });
      return refuseChannel(channel, `only git push and git fetch run here; ${OPS_HELP}. ${NO_SHELL}`);
    }
    runGitChannel(options, channel, user, command, env).catch((err) => {
      options.logger.error("ssh.git.failed", { user: user.id, error: err instanceof Error ? err.message : String(err) });
      if (!channel.destroyed) refuseChannel(channel, "the git server failed; see the server log");
    });
  });
  session.on("shell", (accept) => refuseChannel(accept(), NO_SHELL));
  session.on("subsystem", (accept, _reject, info) => refuseChannel(accept(), `no ${info.name} subsystem. ${NO_SHELL}`));
}
