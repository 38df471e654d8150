import { type Socket, connect } from "node:net";
import type { Duplex } from "node:stream";
import type { AcceptConnection, RejectConnection, ServerChannel, TcpipRequestInfo } from "ssh2";
import type { GitAccessOptions, GitUser } from "../git/access.ts";
import type { Logger } from "../lib/logger.ts";
import type { OpsOptions } from "./ops-channel.ts";
import type { Tunnels } from "./tunnels.ts";

export interface ForwardOptions extends GitAccessOptions {
  logger: Logger;
  ops?: OpsOptions;
  /** A forward whose replica does not accept the TCP connection by then is refused. Default 5 s. */
  connectTimeoutMs?: number;
  /**
   * Opens the TCP connection to the replica (default node:net connect). Tests
   * only: a replica's ports are fixed (EPMD, distribution), so a test points
   * this at a listener of its own.
   */
  connect?: (host: string, port: number) => Socket;
}

/**
 * One `direct-tcpip` channel (ssh -L): allowed only as tunnels.decide() says
 * (an observer session on this connection holds the replica; EPMD or the
 * distribution port), and only while the caller still may write to the app and
 * the replica still runs at the same address. Then the daemon connects to the
 * replica (on the app's network, or through the runner: see openToReplica) and
 * copies bytes both ways. Everything else is
 * refused (SSH's "administratively prohibited").
 */
export async function handleForward(
  options: ForwardOptions,
  user: GitUser | null,
  tunnels: Tunnels,
  info: TcpipRequestInfo,
  accept: AcceptConnection<ServerChannel>,
  reject: RejectConnection,
): Promise<void> {
  const what = { user: user?.id ?? null, host: String(info.destIP).slice(0, 128), port: info.destPort };
  const refuse = (reason: string) => {
    options.logger.warn("ssh.forward.refused", { ...what, reason });
    reject();
  };
  if (!user) return refuse("not authenticated");
  if (!options.ops) return refuse("operating apps is not available on this server");
  const decision = tunnels.decide(String(info.destIP), info.destPort);
  if (!decision.ok) return refuse(decision.reason);
  const { tunnel } = decision;
  if (!options.appExists(tunnel.app) || options.authorize(user, tunnel.app, "write") !== "ok") return refuse("no write access to the app");
  const replicas = await options.ops.runner.list(tunnel.app).catch(() => []);
  const alive = replicas.some((r) => r.id === tunnel.replicaId && r.state === "running" && r.address.host === tunnel.ip);
  if (!alive) return refuse(`${tunnel.replica} of ${tunnel.app} is no longer running`);

  let socket: Duplex;
  try {
    socket = await openToReplica(options, tunnel, info.destPort);
  } catch (err) {
    return refuse(`the replica did not accept the connection: ${(err as Error).message}`);
  }
  socket.on("error", () => socket.destroy());
  if (!tunnels.track(tunnel, socket)) {
    socket.destroy();
    return refuse("the observer session ended");
  }
  const channel = accept();
  options.logger.info("ssh.forward.open", { ...what, app: tunnel.app, replica: tunnel.replica });
  socket.pipe(channel);
  channel.pipe(socket);
  channel.on("error", () => socket.destroy());
  channel.on("close", () => socket.destroy());
  socket.on("close", () => {
    tunnels.untrack(tunnel, socket);
    if (!channel.destroyed) channel.close();
  });
}

/**
 * The connection to the replica's port, open: through the runner when it
 * offers one (Kubernetes' port-forward), else a TCP connection to its address
 * on the app's network. Bounded by connectTimeoutMs.
 */
async function openToReplica(options: ForwardOptions, tunnel: { replicaId: string; ip: string }, port: number): Promise<Duplex> {
  const ms = options.connectTimeoutMs ?? 5000;
  const runner = options.ops?.runner;
  if (!options.connect && runner?.connect) {
    const opening = runner.connect(tunnel.replicaId, port);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("connect timed out")), ms)));
    try {
      return await Promise.race([opening, late]);
    } catch (err) {
      void opening.then((c) => c.destroy(), () => {});
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
  const socket: Socket = (options.connect ?? ((host, p) => connect({ host, port: p })))(tunnel.ip, port);
  return new Promise((resolve, reject) => {
    socket.setTimeout(ms, () => socket.destroy(new Error("connect timed out")));
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.setTimeout(0);
      socket.removeListener("error", reject);
      resolve(socket);
    });
  });
}
