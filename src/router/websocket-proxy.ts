import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import type { BackendState } from "./backends.ts";
import { forwardRequestHeaders } from "./headers.ts";
import { describe, isRefused, type ProxyContext } from "./http-proxy.ts";
import { errorPage } from "./pages.ts";
import { nextBackend, type Route } from "./route-table.ts";

/**
 * Flow control, both directions. A side is paused (its socket is not read, so
 * its peer sees TCP backpressure) while more than HIGH_WATER bytes wait to be
 * written to the other side; it is resumed once that falls back.
 */
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
/**
 * The client WebSocket towards the upstream has `bufferedAmount` but no drain
 * event, so while the client side is paused on it a timer re-checks it. It runs
 * only while paused (at most one per session) and stops when the upstream catches up.
 */
const POLL_MS = 5;

/** ws.data of a proxied WebSocket. `kind` lets a shared handler tell it apart. */
export interface WebSocketSession {
  kind: "router";
  app: string;
  backend: string;
  upstream: WebSocket;
  client: ServerWebSocket<WebSocketSession> | null;
  /**
   * Upstream messages not yet handed to the client: read before the client's
   * open event, or while the client is backpressured (a paused WebSocket may
   * still dispatch messages it had already read). Sent in order; never dropped.
   */
  pending: (string | Buffer)[];
  /** Whether reading from the upstream is paused (it is until the client opens). */
  upstreamPaused: boolean;
  /** Set when the upstream closed or failed: the code and reason the client gets once `pending` is sent. */
  upstreamClosed: { code: number; reason: string } | null;
  clientClosed: boolean;
  /** Polls the upstream's bufferedAmount while the client is paused (the client WebSocket has no drain event). */
  poll: Timer | null;
  /** Forgets the session in the registry's abandon() bookkeeping (once either side closed). */
  forget: () => void;
}

/**
 * Opens the upstream WebSocket first (trying the next backend once if the
 * connection is refused), then upgrades the client with the subprotocol the
 * upstream chose. Returns undefined once upgraded, or an error page.
 */
export async function proxyWebSocket(req: Request, server: Server<WebSocketSession>, route: Route, ctx: ProxyContext): Promise<Response | undefined> {
  let backend = nextBackend(route);
  if (!backend) return errorPage(503);
  server.timeout(req, 0);
  const headers = new Headers(req.headers);
  forwardRequestHeaders(headers, { clientIp: server.requestIP(req)?.address, proto: ctx.proto, port: server.port });
  const offered = headers.get("sec-websocket-protocol");
  for (const name of ["sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-protocol"]) headers.delete(name);
  const protocols = offered ? offered.split(",").map((p) => p.trim()).filter((p) => p !== "") : [];
  const url = req.url;
  const pathStart = url.indexOf("/", url.indexOf("//") + 2);
  const path = pathStart < 0 ? "/" : url.slice(pathStart);

  let upstream: WebSocket | undefined;
  for (let attempt = 0; !upstream; attempt++) {
    try {
      upstream = await openUpstream(backend.wsOrigin + path, protocols, headers);
    } catch (error) {
      if (req.signal.aborted) return new Response(null, { status: 499 });
      const next = attempt === 0 && isRefused(error) ? nextBackend(route) : undefined;
      if (next && next !== backend) {
        ctx.logger.warn("router.upstream_refused", { app: route.app, backend: backend.key, retry: next.key, websocket: true });
        backend = next;
        continue;
      }
      ctx.logger.warn("router.upstream_failed", { app: route.app, backend: backend.key, websocket: true, error: describe(error) });
      return errorPage(502);
    }
  }
  const session = attach(upstream, route.app, backend, ctx);
  const upgraded = server.upgrade(req, {
    data: session,
    ...(upstream.protocol ? { headers: { "Sec-WebSocket-Protocol": upstream.protocol } } : {}),
  });
  if (!upgraded) {
    session.clientClosed = true;
    upstream.close(1000);
    return new Response("Expected a WebSocket upgrade", { status: 400 });
  }
  return undefined;
}

function openUpstream(url: string, protocols: string[], headers: Headers): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { protocols, headers });
    ws.binaryType = "nodebuffer";
    ws.onopen = () => {
      ws.onopen = ws.onerror = ws.onclose = null;
      ws.pause();
      resolve(ws);
    };
    ws.onerror = (event) => {
      ws.onopen = ws.onerror = ws.onclose = null;
      const { error, message } = event as ErrorEvent;
      reject(error ?? new Error(message || "websocket error"));
    };
    ws.onclose = (event) => {
      ws.onopen = ws.onerror = ws.onclose = null;
      reject(new Error(`closed before open (${event.code})`));
    };
  });
}

function attach(upstream: WebSocket, app: string, backend: BackendState, ctx: ProxyContext): WebSocketSession {
  const session: WebSocketSession = {
    kind: "router",
    app,
    backend: backend.key,
    upstream,
    client: null,
    pending: [],
    upstreamPaused: true,
    upstreamClosed: null,
    clientClosed: false,
    poll: null,
    forget: () => {},
  };
  // Its replica died (abandon()): a vanished peer on another host would never send the close.
  session.forget = ctx.registry.hold(backend, () => {
    if (!session.upstreamClosed) closeClient(session, 1011, "its replica died");
    upstream.terminate();
  });
  upstream.onmessage = (event) => {
    if (session.clientClosed) return;
    session.pending.push(event.data as string | Buffer);
    // While paused, the client's drain event sends it (in order, after what is queued).
    if (!session.upstreamPaused) pumpToClient(session);
  };
  upstream.onerror = (event) => {
    if (session.upstreamClosed) return;
    ctx.logger.warn("router.websocket_failed", { app, backend: backend.key, error: (event as ErrorEvent).message || "error" });
    closeClient(session, 1011, "upstream error");
  };
  upstream.onclose = (event) => {
    if (session.upstreamClosed) return;
    closeClient(session, sendableCode(event.code), event.reason);
  };
  return session;
}

/**
 * Hands queued upstream messages to the client while its send buffer is at
 * most HIGH_WATER, then pauses or resumes the upstream to match. Runs on each
 * upstream message, on the client's open and on every client drain, so a
 * paused upstream is always resumed by a later drain: a send buffer above
 * HIGH_WATER is not empty, and the server calls `drain` as it empties.
 * ServerWebSocket.send() returns 0 when it drops a message (past the server's
 * backpressureLimit, or closed): such a message stays queued for the next drain.
 */
function pumpToClient(session: WebSocketSession): void {
  const client = session.client;
  if (client === null || session.clientClosed) return;
  const pending = session.pending;
  let sent = 0;
  while (sent < pending.length && client.getBufferedAmount() <= HIGH_WATER) {
    if (client.send(pending[sent]!) === 0) break;
    sent++;
  }
  if (sent > 0) pending.splice(0, sent);
  if (pending.length === 0 && session.upstreamClosed) {
    const { code, reason } = session.upstreamClosed;
    session.clientClosed = true;
    client.close(code, reason);
    return;
  }
  const full = pending.length > 0 || client.getBufferedAmount() > HIGH_WATER;
  const upstream = session.upstream;
  if (full && !session.upstreamPaused) {
    session.upstreamPaused = true;
    upstream.pause();
  } else if (!full && session.upstreamPaused && upstream.readyState === WebSocket.OPEN) {
    session.upstreamPaused = false;
    upstream.resume();
  }
}

/** The upstream closed or failed: the client gets `code` after every message already read from the upstream. */
function closeClient(session: WebSocketSession, code: number, reason: string): void {
  session.upstreamClosed = { code, reason };
  session.forget();
  stopPolling(session);
  pumpToClient(session);
}

/** 1005, 1006 and 1015 describe a close; they cannot be sent in one. */
export function sendableCode(code: number): number {
  return code === 1005 || code === 1006 || code === 1015 || code < 1000 || code > 4999 ? 1000 : code;
}

function stopPolling(session: WebSocketSession): void {
  if (session.poll) {
    clearInterval(session.poll);
    session.poll = null;
  }
}

export const websocketHandler: WebSocketHandler<WebSocketSession> = {
  open(ws) {
    ws.data.client = ws;
    pumpToClient(ws.data);
  },
  message(ws, message) {
    const session = ws.data;
    const upstream = session.upstream;
    if (upstream.readyState !== WebSocket.OPEN) return;
    upstream.send(message);
    // A paused ServerWebSocket may still deliver messages it had read: they are
    // sent above (the client WebSocket buffers without limit) and the poll runs on.
    if (upstream.bufferedAmount > HIGH_WATER && session.poll === null) {
      ws.pause();
      session.poll = setInterval(() => {
        if (upstream.readyState === WebSocket.OPEN && upstream.bufferedAmount > LOW_WATER) return;
        stopPolling(session);
        if (!session.clientClosed) ws.resume();
      }, POLL_MS);
    }
  },
  drain(ws) {
    pumpToClient(ws.data);
  },
  close(ws, code, reason) {
    const session = ws.data;
    session.clientClosed = true;
    session.pending = [];
    session.forget();
    stopPolling(session);
    const upstream = session.upstream;
    if (session.upstreamClosed || upstream.readyState >= WebSocket.CLOSING) return;
    try {
      upstream.close(sendableCode(code), reason);
    } catch {
      upstream.close(1000);
    }
  },
};
