import type { Server, Socket, WebSocketHandler } from "bun";
import type { Logger } from "../lib/logger.ts";
import { type Backend, BackendRegistry } from "./backends.ts";
import { type ClientAddress, createFront, type Front } from "./front.ts";
import { proxyHttp, type ProxyContext } from "./http-proxy.ts";
import { maintenancePage } from "./pages.ts";
import { RouteTable } from "./route-table.ts";
import { proxyWebSocket, websocketHandler, type WebSocketSession } from "./websocket-proxy.ts";

export type { Backend } from "./backends.ts";
export type { WebSocketSession } from "./websocket-proxy.ts";

export interface RouterOptions {
  logger: Logger;
  /** Requests whose Host is no app's go here (the API and git). */
  fallback: (req: Request, server: Server<WebSocketSession>) => Response | Promise<Response>;
  /** "http" or "https": what X-Forwarded-Proto says for this listener. */
  proto?: "http" | "https";
}

export interface Router {
  /** Replace an app's host names and backends atomically (an empty backend list = 503 page). */
  setRoute(app: string, hostnames: string[], backends: Backend[]): void;
  /** Forgets the app (apps:destroy), its maintenance flag included. */
  removeRoute(app: string): void;
  /** Maintenance mode: the app's hosts answer 503 with a maintenance page, HTTP and WebSocket; kept across setRoute. */
  setMaintenance(app: string, on: boolean): void;
  /** What Host → app resolves to (for tests and the API). */
  routeFor(hostname: string): { app: string; backends: Backend[] } | null;
  /** Resolves when no proxied HTTP request to these backends is in flight, or after timeoutMs; tells which. */
  drain(backends: Backend[], timeoutMs: number): Promise<{ drained: boolean; inFlight: number }>;
  /**
   * Listens for HTTP on hostname:port with the socket-level front (front.ts)
   * in front of a Bun.serve running `fetch` (the slow path, on 127.0.0.1).
   * `before` answers first on the slow path (ACME challenges, redirects to
   * HTTPS); `bypass` says which requests the front must send there for it.
   */
  listen(options: ListenOptions): RouterListener;
  /** The slow path: plug into Bun.serve({ fetch, websocket, idleTimeout: 0 }). */
  fetch(req: Request, server: Server<WebSocketSession>): Response | Promise<Response> | undefined | Promise<Response | undefined>;
  websocket: WebSocketHandler<WebSocketSession>;
}

export interface ListenOptions {
  hostname: string;
  port: number;
  before?: (req: Request) => Response | null;
  bypass?: (host: string, target: string) => boolean;
}

export interface RouterListener {
  readonly port: number;
  /** Stops accepting; open connections are cut too when `closeActive`. */
  stop(closeActive?: boolean): Promise<void>;
}

/**
 * The data path: Host → app → one of its backends, round robin. HTTP is
 * proxied with fetch (keep-alive, streaming both ways); WebSockets are opened
 * upstream and piped. Unknown hosts go to the fallback.
 */
export function createRouter(options: RouterOptions): Router {
  const registry = new BackendRegistry();
  const table = new RouteTable(registry);
  const plain: ProxyContext = { registry, logger: options.logger, proto: options.proto ?? "http" };
  // One router serves both listeners: a request that came over TLS says so upstream (X-Forwarded-Proto).
  const secure: ProxyContext = { ...plain, proto: "https" };
  const fallback = options.fallback;

  return {
    setRoute: (app, hostnames, backends) => table.set(app, hostnames, backends),
    removeRoute: (app) => table.remove(app),
    setMaintenance: (app, on) => table.setMaintenance(app, on),
    routeFor(hostname) {
      const route = table.lookup(hostname);
      return route ? { app: route.app, backends: route.backends.map((b) => ({ ...b })) } : null;
    },
    drain: (backends, timeoutMs) => registry.drain(backends, timeoutMs),
    fetch(req, server) {
      const route = table.lookup(req.headers.get("host"));
      if (route === undefined) return fallback(req, server);
      if (table.inMaintenance(route.app)) return maintenancePage();
      const upgrade = req.headers.get("upgrade");
      const ctx = req.url.startsWith("https:") ? secure : plain;
      if (upgrade !== null && upgrade.toLowerCase() === "websocket") return proxyWebSocket(req, server, route, ctx);
      return proxyHttp(req, server, route, ctx);
    },
    websocket: websocketHandler,
    listen(listen) {
      return startListener(this, { table, registry, logger: options.logger }, listen);
    },
  };
}

type FrontClient = ReturnType<Front["handlers"]["open"]>;

function startListener(router: Router, parts: Pick<Parameters<typeof createFront>[0], "table" | "registry" | "logger">, options: ListenOptions): RouterListener {
  let view: Server<WebSocketSession> | undefined;
  const slow = Bun.serve<WebSocketSession>({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    fetch: (req, server) => {
      view ??= clientView(server, front.clients, () => listener.port);
      return options.before?.(req) ?? router.fetch(req, view);
    },
    websocket: router.websocket,
  });
  const front = createFront({
    ...parts,
    proto: "http",
    publicPort: () => listener.port,
    slowPort: () => slow.port!,
    ...(options.bypass ? { bypass: options.bypass } : {}),
  });
  const { handlers } = front;
  const listener = Bun.listen<FrontClient>({
    hostname: options.hostname,
    port: options.port,
    socket: {
      open(sock) {
        sock.data = handlers.open(sock as Socket<unknown>);
      },
      data: (sock, chunk) => handlers.data(sock.data, chunk),
      drain: (sock) => handlers.drain(sock.data),
      close: (sock) => handlers.close(sock.data),
      error() {},
    },
  });
  return {
    get port() {
      return listener.port;
    },
    async stop(closeActive = false) {
      listener.stop(closeActive);
      front.close(closeActive);
      await slow.stop(closeActive);
    },
  };
}

/**
 * The slow path's server as the router and API see it: requestIP() gives the
 * client the front piped (not the pipe's own 127.0.0.1 end) and `port` the
 * public listener's.
 */
function clientView(server: Server<WebSocketSession>, clients: Map<number, ClientAddress>, publicPort: () => number): Server<WebSocketSession> {
  return new Proxy(server, {
    get(target, prop) {
      if (prop === "requestIP")
        return (req: Request) => {
          const peer = target.requestIP(req);
          return (peer && clients.get(peer.port)) ?? peer;
        };
      if (prop === "port") return publicPort();
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
