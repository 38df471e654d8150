import type { ServerChannel } from "ssh2";

export const NO_SHELL = "Beamstalk gives no shell; use git push (remote: ssh://git@<host>:<port>/<app>.git)";

/** Ends a channel with a message on stderr and exit status 1. */
export function refuseChannel(channel: ServerChannel, message: string): void {
  channel.stderr.write(`beamstalk: ${message}\n`);
  channel.exit(1);
  channel.end();
}
