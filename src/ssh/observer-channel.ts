import type { ServerChannel } from "ssh2";
import { execOutput, rpcArgv } from "../deploy/beam.ts";
import type { Logger } from "../lib/logger.ts";
import { Secret } from "../lib/secret.ts";
import { DIST_PORT, EPMD_PORT } from "../runner/ports.ts";
import type { Replica } from "../runner/types.ts";
import type { OpsOptions } from "./ops-channel.ts";
import { replicaName } from "./pick-replica.ts";
import { refuseChannel } from "./refuse.ts";
import type { ReleaseInfo } from "./release-command.ts";
import type { Tunnels } from "./tunnels.ts";

/**
 * Asked of the replica's running node (bin/<release> rpc): its name, the port
 * its EPMD has for it, and its cookie, the values it really uses (an app may
 * override RELEASE_NODE or RELEASE_COOKIE). A constant: nothing is spliced in.
 */
export const OBSERVER_EXPR = `[name, _] = node() |> Atom.to_string() |> String.split("@", parts: 2)
port =
  case :erl_epmd.port_please(String.to_charlist(name), {127, 0, 0, 1}) do
    {:port, port, _version} -> port
    _ -> 0
  end
IO.puts("beamstalk-node=#{node()}")
IO.puts("beamstalk-dist-port=#{port}")
IO.puts("beamstalk-cookie=#{Node.get_cookie()}")
`;

export interface ObserverNode {
  node: string;
  distPort: number;
  cookie: Secret;
}

/** Reads OBSERVER_EXPR's output; null when a line is missing. */
export function parseObserverNode(stdout: string): ObserverNode | null {
  const node = /^beamstalk-node=(\S+@\S+)$/m.exec(stdout)?.[1];
  const port = /^beamstalk-dist-port=(\d{1,5})$/m.exec(stdout)?.[1];
  const cookie = /^beamstalk-cookie=(.+)$/m.exec(stdout)?.[1];
  if (!node || !port || !cookie) return null;
  return { node, distPort: Number(port), cookie: new Secret(cookie) };
}

/** The one line an observer session writes: what the client needs to connect a hidden node through its forwards. */
export interface ObserverHello {
  app: string;
  replica: string;
  release: number;
  node: string;
  /** The destination host for `ssh -L`: `<replica>.<app>`. */
  host: string;
  epmd_port: number;
  dist_port: number;
  cookie: string;
}

/**
 * An observer session: the replica's node must answer and listen on the pinned
 * distribution port; then the tunnel opens (forwards to this replica become
 * possible on this connection), the session is recorded once, the client gets
 * one JSON line, and everything stays open until the client ends the channel.
 */
export async function holdObserverSession(
  options: { ops: OpsOptions; logger: Logger },
  channel: ServerChannel,
  session: { app: string; user: { id: number; email: string }; replica: Replica; release: ReleaseInfo; tunnels: Tunnels },
): Promise<void> {
  const { ops, logger } = options;
  const { app, user, replica, release, tunnels } = session;
  const name = replicaName(replica);
  const res = await execOutput(ops.runner, replica.id, rpcArgv(release, OBSERVER_EXPR, 15), 16_000);
  const found = res.code === 0 ? parseObserverNode(res.stdout) : null;
  if (!found) return refuseChannel(channel, `the node of ${name} did not answer (is it running? \`beamstalk ps\` shows its state)`);
  if (found.distPort !== DIST_PORT) {
    return refuseChannel(channel, `the node of ${name} listens for distribution on port ${found.distPort || "unknown"}, not on ${DIST_PORT}: it started before Beamstalk pinned the port (\`beamstalk ps:restart\`), or the release sets inet_dist_listen_min itself`);
  }
  if (channel.destroyed) return;

  const close = tunnels.open({ app, replica: name, replicaId: replica.id, ip: replica.address.host });
  const log = { app, user: user.id, replica: name, release: replica.release, node: found.node };
  ops.recordActivity(app, user, "ps.observer", `Opened an observer session on ${name} (v${replica.release})`);
  logger.info("ssh.observer.start", log);
  const began = performance.now();
  const hello: ObserverHello = {
    app, replica: name, release: replica.release, node: found.node, host: `${name}.${app}`,
    epmd_port: EPMD_PORT, dist_port: DIST_PORT, cookie: found.cookie.reveal(),
  };
  channel.write(JSON.stringify(hello) + "\n");
  channel.resume();
  await new Promise<void>((done) => {
    channel.once("end", done);
    channel.once("close", done);
  });
  const forwards = close();
  logger.info("ssh.observer.exit", { ...log, forwards, ms: Math.round(performance.now() - began) });
  if (channel.destroyed) return;
  channel.exit(0);
  channel.end();
}
