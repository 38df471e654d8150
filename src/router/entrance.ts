import type { Server, Socket, WebSocketHandler } from "bun";
import type { Logger } from "../lib/logger.ts";
import type { BackendRegistry } from "./backends.ts";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFront, type Front } from "./front.ts";
import { type ClientAddress, CLIENT_HEADER, vouchedClient } from "./handoff.ts";
import type { RouteTable } from "./route-table.ts";
import type { HeadLimits } from "./head-watch.ts";
import type { WebSocketSession } from "./websocket-proxy.ts";

/**
 * An entrance: the socket-level front (front.ts) and, behind it, the slow
 * path, a Bun.serve running the Request/Response router on a unix socket in
 * a fresh 0700 directory (mkdtemp, under `socketDir`), so that no other local user can reach it
 * as if from the public port (handoff.ts says how it learns the client). It
 * takes what the front hands off (the API and git, maintenance pages, ACME
 * challenges, redirects, HTTP/1.0). The transport that feeds it client bytes
 * is separate: plain TCP here (listenTcp), TLS in src/tls/listener.ts.
 */

export interface EntranceOptions {
  /** What X-Forwarded-Proto says, on both paths. */
  proto: "http" | "https";
  /** The port clients connect to (X-Forwarded-Port): read at the first request. */
  publicPort?: () => number;
  /** Answers first on the slow path (ACME challenges, redirects to HTTPS). */
  before?: (req: Request) => Response | null;
  /** Which requests for an app's host the front must hand to the slow path, for `before`. */
  bypass?: (host: string, target: string) => boolean;
  /** Bounds on connections that have not sent a full request head (head-watch.ts). */
  heads?: HeadLimits;
  /**
   * Where the slow path's socket directory is made (the daemon: `<data-dir>/tmp`,
   * which no tmpfiles cleaner ages); the system's temporary directory when
   * absent, or when the path would be too long for a unix socket.
   */
  socketDir?: string;
}

export interface Entrance {
  /** Feed these from a transport: one `open` per client connection, then its bytes. */
  readonly handlers: Front["handlers"];
  /** Tells the entrance its public port, once the transport listens. */
  setPublicPort(port: number): void;
  /** Shuts down: idle connections close now, busy ones after their exchange (or at once when `force`). */
  stop(force?: boolean): Promise<void>;
  /**
   * Shuts down gracefully, then waits up to `boundMs` for every connection
   * (WebSockets and long requests included) to end; cuts the rest. Resolves
   * with how many it had to cut.
   */
  drain(boundMs: number): Promise<number>;
}

export interface ListenOptions {
  hostname: string;
  port: number;
  before?: (req: Request) => Response | null;
  bypass?: (host: string, target: string) => boolean;
  heads?: HeadLimits;
  socketDir?: string;
}

export interface RouterListener {
  readonly port: number;
  /** Stops accepting; open connections are cut too when `closeActive`. */
  stop(closeActive?: boolean): Promise<void>;
  /** Stops accepting, then lets open connections end, within `boundMs` (Entrance.drain). */
  drain(boundMs: number): Promise<number>;
}

export interface EntranceDeps {
  table: RouteTable;
  registry: BackendRegistry;
  logger: Logger;
  handle: (req: Request, server: Server<WebSocketSession>) => Response | Promise<Response> | undefined | Promise<Response | undefined>;
  websocket: WebSocketHandler<WebSocketSession>;
}

export function openEntrance(deps: EntranceDeps, options: EntranceOptions): Entrance {
  let publicPort = 0;
  let view: Server<WebSocketSession> | undefined;
  // sun_path holds 108 bytes: "<parent>/beamstalk-slow-XXXXXX/slow.sock" must fit.
  const parent = options.socketDir !== undefined && Buffer.byteLength(options.socketDir) + 32 < 104 ? options.socketDir : tmpdir();
  const dir = mkdtempSync(join(parent, "beamstalk-slow-"));
  const socketPath = join(dir, "slow.sock");
  const secret = randomBytes(24).toString("base64url");
  /** Each request's client, as the front vouched for it. */
  const clients = new WeakMap<Request, ClientAddress>();
  const slow = Bun.serve<WebSocketSession>({
    unix: socketPath,
    // Bun's types leave idleTimeout out of unix-socket servers; at run time it is honoured (NOTES.md).
    ...({ idleTimeout: 0 } as object),
    fetch: (given, server) => {
      // Without a Host (HTTP/1.0) or with an empty one, Bun's req.url is the bare path; routers
      // that cut the origin off by position would cut part of the path instead.
      const req =
        given.url.charCodeAt(0) === 47
          ? new Request(`http://localhost${given.url}`, { method: given.method, headers: given.headers, body: given.body, signal: given.signal, duplex: "half" } as RequestInit)
          : given;
      const client = vouchedClient(req.headers.get(CLIENT_HEADER), secret);
      if (client === null) return new Response("not from the router's front\n", { status: 400, headers: { connection: "close" } });
      // Never passed on (an app behind the slow path would learn the secret).
      req.headers.delete(CLIENT_HEADER);
      clients.set(req, client);
      view ??= clientView(server as Server<WebSocketSession>, clients, () => publicPort);
      return options.before?.(req) ?? deps.handle(req, view);
    },
    websocket: deps.websocket,
  });
  const front = createFront({
    table: deps.table,
    registry: deps.registry,
    logger: deps.logger,
    proto: options.proto,
    publicPort: () => publicPort,
    slowPath: () => socketPath,
    handoffSecret: secret,
    ...(options.bypass ? { bypass: options.bypass } : {}),
    ...(options.heads ? { heads: options.heads } : {}),
  });
  return {
    handlers: front.handlers,
    setPublicPort(port) {
      publicPort = port;
    },
    async stop(force = false) {
      front.close(force);
      await slow.stop(force);
      rmSync(dir, { recursive: true, force: true });
    },
    async drain(boundMs) {
      const deadline = Date.now() + boundMs;
      front.close(false);
      const slowDone = slow.stop(false);
      while (front.connections > 0 && Date.now() < deadline) await Bun.sleep(100);
      const cut = front.connections;
      await Promise.race([slowDone, Bun.sleep(Math.max(0, deadline - Date.now()))]);
      if (cut > 0 || Date.now() >= deadline) {
        front.close(true);
        await slow.stop(true);
      }
      rmSync(dir, { recursive: true, force: true });
      return cut;
    },
  };
}

type FrontClient = ReturnType<Front["handlers"]["open"]>;

/** Plain HTTP: a Bun.listen feeding the entrance. */
export function listenTcp(entrance: Entrance, options: ListenOptions): RouterListener {
  const { handlers } = entrance;
  const listener = Bun.listen<FrontClient>({
    hostname: options.hostname,
    port: options.port,
    // A successor daemon (beamstalk upgrade) binds the same port while this one still serves.
    // Bun honours reusePort here (measured: two processes share the port); its types list it for connect() only.
    ...({ reusePort: true } as object),
    socket: {
      open(sock) {
        sock.setNoDelay(true);
        sock.data = handlers.open(sock as Socket<unknown>);
      },
      data: (sock, chunk) => handlers.data(sock.data, chunk),
      drain: (sock) => handlers.drain(sock.data),
      close: (sock) => handlers.close(sock.data),
      error() {},
    },
  });
  entrance.setPublicPort(listener.port);
  return {
    port: listener.port,
    async stop(closeActive = false) {
      listener.stop(closeActive);
      await entrance.stop(closeActive);
    },
    drain(boundMs) {
      listener.stop(false);
      return entrance.drain(boundMs);
    },
  };
}

/**
 * The slow path's server as the router and API see it: requestIP() gives the
 * client the front vouched for (the unix socket has no peer address) and
 * `port` the public listener's.
 */
function clientView(server: Server<WebSocketSession>, clients: WeakMap<Request, ClientAddress>, publicPort: () => number): Server<WebSocketSession> {
  return new Proxy(server, {
    get(target, prop) {
      if (prop === "requestIP") return (req: Request) => clients.get(req) ?? null;
      if (prop === "port") return publicPort();
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
