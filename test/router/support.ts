import type { Server } from "bun";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import type { HeadLimits } from "../../src/router/head-watch.ts";
import { type Backend, createRouter, type Router, type WebSocketSession } from "../../src/router/index.ts";

export interface RunningRouter {
  router: Router;
  logs: string[];
  /** The router's base URL; send `host` to pick an app. */
  url: string;
  port: number;
}

const servers: { stop(force?: boolean): unknown }[] = [];

/**
 * A router listening as the daemon runs it: the socket-level front, with the
 * Request/Response slow path behind it (unknown hosts reach `fallback`).
 * `slowPath` serves the slow path alone instead, in a Bun.serve with that
 * WebSocket backpressureLimit: its message-level WebSocket proxy is what a
 * connection handed off before its upgrade still goes through.
 */
export function startRouter(options: { slowPath?: { backpressureLimit: number }; heads?: HeadLimits } = {}): RunningRouter {
  const logger = createMemoryLogger();
  const router = createRouter({
    logger,
    fallback: (req) => new Response(`fallback ${new URL(req.url).pathname}`, { headers: { "x-fallback": "yes" } }),
  });
  if (options.slowPath) {
    const server = Bun.serve<WebSocketSession>({
      hostname: "127.0.0.1",
      port: 0,
      idleTimeout: 0,
      fetch: router.fetch,
      websocket: { ...router.websocket, backpressureLimit: options.slowPath.backpressureLimit },
    });
    servers.push(server);
    return { router, logs: logger.lines, url: `http://127.0.0.1:${server.port}`, port: server.port! };
  }
  const listener = router.listen({ hostname: "127.0.0.1", port: 0, ...(options.heads ? { heads: options.heads } : {}) });
  servers.push({ stop: (force) => listener.stop(force) });
  return { router, logs: logger.lines, url: `http://127.0.0.1:${listener.port}`, port: listener.port };
}

/** An upstream that answers JSON describing what it received, unless given a handler. */
export function startUpstream(name: string, handler?: (req: Request, server: Server<undefined>) => Response | Promise<Response>): Server<undefined> & { backend: Backend } {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    fetch:
      handler ??
      ((req) => {
        const headers: Record<string, string> = {};
        req.headers.forEach((value, key) => (headers[key] = value));
        const url = new URL(req.url);
        return Response.json({ name, path: url.pathname + url.search, method: req.method, headers });
      }),
  });
  servers.push(server);
  return Object.assign(server, { backend: { host: "127.0.0.1", port: server.port! } });
}

/** A port nothing listens on: connecting is refused. */
export function refusedBackend(): Backend {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return { host: "127.0.0.1", port };
}

export async function stopAll(): Promise<void> {
  for (const server of servers.splice(0)) await server.stop(true);
}

export function get(r: RunningRouter, host: string, path = "/", init: RequestInit = {}): Promise<Response> {
  return fetch(r.url + path, { ...init, headers: { host, ...(init.headers as Record<string, string> | undefined) } });
}

/** A raw TCP connection to the router: what it wrote, and when it closed. */
export async function rawConnection(port: number) {
  let received = "";
  let onClose: () => void = () => {};
  const closed = new Promise<void>((resolve) => (onClose = resolve));
  let isClosed = false;
  const sock = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data: (_s, chunk) => void (received += chunk.toString("latin1")),
      close: () => {
        isClosed = true;
        onClose();
      },
      error: () => {},
    },
  });
  return {
    write: (text: string) => sock.write(text),
    end: () => sock.end(),
    get received() {
      return received;
    },
    get isClosed() {
      return isClosed;
    },
    closed,
  };
}
