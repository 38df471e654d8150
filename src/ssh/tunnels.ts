import { isAppName } from "../lib/validate.ts";
import { DIST_PORT, EPMD_PORT } from "../runner/ports.ts";
import { REPLICA_NAME } from "./ops-command.ts";

/**
 * Port forwards (`ssh -L`, SSH's direct-tcpip) to a replica's BEAM. The only
 * forwards the server accepts: on a connection where an `observer` session is
 * open, to the replica that session holds, on EPMD's port or the pinned
 * distribution port. The session checked the caller's access and recorded it;
 * each forward re-checks access and that the replica still runs (tcpip.ts).
 */

/** What an observer session holds open: one replica of one app. */
export interface Tunnel {
  app: string;
  /** `web.1`. */
  replica: string;
  /** The engine's id of the replica. */
  replicaId: string;
  /** The replica's address on the app's network (reachable from the host, never published). */
  ip: string;
}

/** The ports a forward may reach. */
export const FORWARD_PORTS: readonly number[] = [EPMD_PORT, DIST_PORT];

/**
 * The destination host a client names: `<replica>.<app>` (`web.1.shop`), or
 * `<app>` for the replica this connection's observer session holds for it.
 */
export function parseForwardHost(host: string): { app: string; replica?: string } | null {
  if (host.length > 128) return null;
  const parts = host.split(".");
  if (parts.length === 1) return isAppName(parts[0]) ? { app: parts[0] } : null;
  if (parts.length !== 3) return null;
  const [process, index, app] = parts as [string, string, string];
  const replica = `${process}.${index}`;
  return isAppName(app) && REPLICA_NAME.test(replica) ? { app, replica } : null;
}

export type ForwardDecision = { ok: true; tunnel: Tunnel } | { ok: false; reason: string };

interface Closable {
  destroy(): void;
}

/** The tunnels of one SSH connection, and the forwarded sockets running through each. */
export class Tunnels {
  readonly #open = new Map<Tunnel, { sockets: Set<Closable>; forwards: number }>();

  /** Opens a tunnel for a session; the returned function closes it and every forward through it, and says how many there were. */
  open(tunnel: Tunnel): () => number {
    this.#open.set(tunnel, { sockets: new Set(), forwards: 0 });
    return () => {
      const held = this.#open.get(tunnel);
      this.#open.delete(tunnel);
      for (const socket of held?.sockets ?? []) socket.destroy();
      return held?.forwards ?? 0;
    };
  }

  /** May this connection forward to host:port? Pure: access and liveness are checked by the caller. */
  decide(host: string, port: number): ForwardDecision {
    const dest = parseForwardHost(host);
    if (!dest) return { ok: false, reason: "not a replica: forward to <app> or <replica>.<app>, e.g. web.1.shop" };
    if (!FORWARD_PORTS.includes(port)) return { ok: false, reason: `port ${port} is not forwarded: only EPMD (${EPMD_PORT}) and the node's distribution port (${DIST_PORT})` };
    const held = [...this.#open.keys()].filter((t) => t.app === dest.app && (dest.replica === undefined || t.replica === dest.replica));
    if (held.length === 0) return { ok: false, reason: `no observer session on this connection holds ${host}` };
    if (held.length > 1) return { ok: false, reason: `observer sessions on this connection hold several replicas of ${dest.app}: name one, e.g. ${held[0]!.replica}.${dest.app}` };
    return { ok: true, tunnel: held[0]! };
  }

  /** Counts a forward through the tunnel, to be closed with it; false when the tunnel closed meanwhile. */
  track(tunnel: Tunnel, socket: Closable): boolean {
    const held = this.#open.get(tunnel);
    if (!held) return false;
    held.sockets.add(socket);
    held.forwards += 1;
    return true;
  }

  /** Forgets a forward that ended by itself. */
  untrack(tunnel: Tunnel, socket: Closable): void {
    this.#open.get(tunnel)?.sockets.delete(socket);
  }

  /** Open tunnels. */
  get size(): number {
    return this.#open.size;
  }
}
