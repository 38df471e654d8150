import type { Server, WebSocketHandler } from "bun";
import type { Logger } from "../lib/logger.ts";
import { type Backend, BackendRegistry } from "./backends.ts";
import { type Entrance, type EntranceOptions, listenTcp, type ListenOptions, openEntrance, type RouterListener } from "./entrance.ts";
import { proxyHttp, type ProxyContext } from "./http-proxy.ts";
import { maintenancePage } from "./pages.ts";
import { RouteTable } from "./route-table.ts";
import { proxyWebSocket, websocketHandler, type WebSocketSession } from "./websocket-proxy.ts";

export type { Backend } from "./backends.ts";
export type { WebSocketSession } from "./websocket-proxy.ts";
export type { Entrance, EntranceOptions, ListenOptions, RouterListener } from "./entrance.ts";
export type { Wire } from "./front.ts";

export interface RouterOptions {
  logger: Logger;
  /** Requests whose Host is no app's go here (the API and git). */
  fallback: (req: Request, server: Server<WebSocketSession>) => Response | Promise<Response>;
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
   * Their replicas died: every connection to them is cut, so a request in flight
   * gets its 502 (or, once answered, its end) now. A replica on another host that
   * vanished sends no reset, and a request to it would otherwise wait for good.
   */
  abandon(backends: Backend[]): void;
  /**
   * Listens for HTTP on hostname:port with the socket-level front (front.ts)
   * in front of a Bun.serve running `fetch` (the slow path, on a unix socket in a 0700 directory).
   * `before` answers first on the slow path (ACME challenges, redirects to
   * HTTPS); `bypass` says which requests the front must send there for it.
   */
  listen(options: ListenOptions): RouterListener;
  /** The same front and slow path without a listener, for a transport of one's own (src/tls's HTTPS listener). */
  entrance(options: EntranceOptions): Entrance;
  /** The slow path: plug into Bun.serve({ fetch, websocket, idleTimeout: 0 }). */
  fetch(req: Request, server: Server<WebSocketSession>): Response | Promise<Response> | undefined | Promise<Response | undefined>;
  websocket: WebSocketHandler<WebSocketSession>;
}

/**
 * Host → app → one of its backends, round robin. listen()/entrance() put the
 * socket-level front (front.ts) before everything: it proxies app requests as
 * bytes. fetch/websocket are the slow path behind it (and usable alone in a
 * Bun.serve): HTTP proxied with fetch, WebSockets opened upstream and piped
 * message by message, maintenance and error pages, and the fallback (the API
 * and git) for hosts that are no app's.
 */
export function createRouter(options: RouterOptions): Router {
  const registry = new BackendRegistry();
  const table = new RouteTable(registry);
  const plain: ProxyContext = { registry, logger: options.logger, proto: "http" };
  // One router serves both listeners: a request that came over TLS says so upstream (X-Forwarded-Proto).
  const secure: ProxyContext = { ...plain, proto: "https" };
  const fallback = options.fallback;

  function entrance(entrance: EntranceOptions): Entrance {
    const ctx = entrance.proto === "https" ? secure : plain;
    return openEntrance({ table, registry, logger: options.logger, websocket: websocketHandler, handle: (req, server) => handle(req, server, ctx) }, entrance);
  }

  function handle(req: Request, server: Server<WebSocketSession>, ctx: ProxyContext) {
    const route = table.lookup(req.headers.get("host"));
    if (route === undefined) return fallback(req, server);
    if (table.inMaintenance(route.app)) return maintenancePage();
    const upgrade = req.headers.get("upgrade");
    if (upgrade !== null && upgrade.toLowerCase() === "websocket") return proxyWebSocket(req, server, route, ctx);
    return proxyHttp(req, server, route, ctx);
  }

  return {
    setRoute: (app, hostnames, backends) => table.set(app, hostnames, backends),
    removeRoute: (app) => table.remove(app),
    setMaintenance: (app, on) => table.setMaintenance(app, on),
    routeFor(hostname) {
      const route = table.lookup(hostname);
      return route ? { app: route.app, backends: route.backends.map((b) => ({ ...b })) } : null;
    },
    drain: (backends, timeoutMs) => registry.drain(backends, timeoutMs),
    abandon: (backends) => registry.abandon(backends),
    fetch: (req, server) => handle(req, server, req.url.startsWith("https:") ? secure : plain),
    websocket: websocketHandler,
    entrance,
    listen: (listen) => listenTcp(entrance({ proto: "http", ...listen }), listen),
  };
}
