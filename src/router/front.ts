import type { Socket } from "bun";
import type { Logger } from "../lib/logger.ts";
import type { BackendRegistry, BackendState } from "./backends.ts";
import { after, append, flush, put } from "../lib/socket-bytes.ts";
import { ChunkedDecoder } from "./chunked.ts";
import { HttpParseError, isValidHost, MAX_HEAD, parseRequestHead, parseResponseHead, type RequestHead } from "./http1.ts";
import { errorPageBytes, plainError } from "./pages.ts";
import { clientHeaderLine, type Pipe, SlowPathPipes } from "./handoff.ts";
import { IdlePool } from "./idle-pool.ts";
import { addressKey } from "../lib/client-address.ts";
import { DEFAULT_HEAD_LIMITS, HeadWatch, type HeadLimits } from "./head-watch.ts";
import { nextBackend, type Route, type RouteTable } from "./route-table.ts";

/**
 * The router's data path at the socket level: what proxies requests to apps.
 *
 * A client connection's request heads are parsed here (http1.ts); a request
 * for an app goes out on a pooled keep-alive connection to one of its
 * backends, with the body and the answer passed through as bytes, framed
 * (Content-Length or chunked) but never copied into Request/Response objects.
 * A WebSocket upgrade that the app accepts (101) turns both connections into
 * a byte tunnel, frames and close codes untouched, as nginx does.
 *
 * Everything else (unknown hosts: the API and git; apps in maintenance or
 * without replicas; ACME challenges and redirects to HTTPS; HTTP/1.0 and
 * absolute-form requests) is handed off: the connection, from that request
 * on, is piped to the slow path, a Bun.serve on a unix socket running the
 * Request/Response router (index.ts). The front still frames each request
 * it pipes, and puts the client's address first in its head (handoff.ts).
 *
 * Why by hand: Bun's fetch client and Request/Response cost 2.5× nginx's CPU
 * per proxied request here (bench/ceilings.ts); bytes between sockets cost
 * about what nginx does.
 */

/** What the front needs of a client connection: a Bun socket, or the TLS adapter in tls-front.ts. */
export interface Wire {
  write(data: Uint8Array): number;
  end(): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

export interface FrontOptions {
  table: RouteTable;
  registry: BackendRegistry;
  logger: Logger;
  proto: "http" | "https";
  /** The port clients connect to (X-Forwarded-Port). */
  publicPort: () => number;
  /** The slow path's unix socket. */
  slowPath: () => string;
  /** Vouches for the client in each request handed to the slow path (handoff.ts). */
  handoffSecret: string;
  /** Requests for these go the slow way even when an app has the host (ACME challenges, redirects to HTTPS). */
  bypass?: (host: string, target: string) => boolean;
  /** Bounds on connections that have not sent a full head (head-watch.ts); defaults: 20 s, 75 s idle, 256 per address. */
  heads?: HeadLimits;
}

const enum C {
  /** Waiting for (or parsing) the next request head. */
  Head,
  /** Forwarding the request body upstream. */
  Body,
  /** Request sent; waiting for the answer to finish. */
  Wait,
  /** After a 101: bytes both ways. */
  Tunnel,
  /** Handed to the slow path: bytes both ways. */
  Piped,
  /** Closing: nothing more is read. */
  Closing,
}

const enum U {
  Connecting,
  Head,
  Body,
  Tunnel,
  Idle,
}

interface Client {
  wire: Wire;
  /** The client's address, read at open. */
  address: string;
  /** What the per-address bound counts it under (head-watch.ts). */
  addressKey: string;
  /** It has not sent a full head yet (head-watch.ts). */
  pending: boolean;
  /** When its wait for a head began (coarse clock). */
  since: number;
  state: C;
  /** Bytes read and not yet handled (the next request, pipelined). */
  buf: Buffer | null;
  /** How much of `buf` was searched for the end of a head already. */
  scanned: number;
  /** Request body bytes still to forward (Content-Length framing). */
  body: number;
  chunked: ChunkedDecoder | null;
  up: Upstream | null;
  pipe: Pipe<Client> | null;
  /** Waiting to be written to the client. */
  out: Uint8Array[] | null;
  /** Reading from the client is paused (backpressure, or pipelined requests waiting). */
  paused: boolean;
  /** The socket paused because the client could not take more. */
  blocked: { resume(): void } | null;
  /** Close once the current answer is out. */
  closeAfter: boolean;
  endWhenFlushed: boolean;
  closed: boolean;
}

interface Upstream {
  sock: Socket<Upstream> | null;
  backend: BackendState;
  route: Route | null;
  client: Client | null;
  state: U;
  buf: Buffer | null;
  body: number;
  chunked: ChunkedDecoder | null;
  method: string;
  websocket: boolean;
  keepAlive: boolean;
  /** Waiting to be written upstream (everything, while connecting). */
  out: Uint8Array[] | null;
  /** A bodiless request's head, sent on a reused connection: sent again on a fresh one if that connection turns out closed. */
  replay: Uint8Array | null;
  /** The request counts in the registry (drain()). */
  counted: boolean;
  /** Retried once already (refused, or a dead pooled connection). */
  retried: boolean;
  /** Part of the answer went to the client. */
  answered: boolean;
  /** Its backend was abandoned (the replica died) while it connected, or connecting took too long. */
  abandoned: boolean;
  /** Bounds the connect: a replica that vanished on another host answers no SYN. */
  connectTimer: Timer | null;
  idleSince: number;
}

const CRLFCRLF = Buffer.from("\r\n\r\n");
/** An Upgrade header in a head handed to the slow path: after it, the connection may carry anything. */
const UPGRADE = /\r\nupgrade[ \t]*:/i;
/** A pooled upstream connection idle longer than this is closed rather than reused (Node's and Bun's servers drop idle ones after 5–10 s). */
const MAX_IDLE_MS = 4_000;
/** Requests sent again on a fresh connection when a pooled one turns out closed before answering (nginx's default too). */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS"]);
/** How long connecting to a replica may take before its request gets a 502 (Heroku's router allows 5 s too). */
const CONNECT_TIMEOUT_MS = 5_000;
/** On a graceful close, how long an idle keep-alive client may still send a request before it is closed. */
const DRAIN_IDLE_MS = 1_000;
/** Idle upstream connections kept per backend. */
const POOL_SIZE = 256;
/** Pipelined bytes buffered while an answer is pending before the client is paused. */
const PIPELINE_LIMIT = 2 * MAX_HEAD;

export interface Front {
  /** Bun.listen socket handlers for the public listener. */
  readonly handlers: {
    open(wire: Wire): Client;
    data(client: Client, chunk: Buffer): void;
    drain(client: Client): void;
    close(client: Client): void;
  };
  /**
   * Shutting down: closes pooled upstream connections; client connections
   * close after their current exchange (answered with `connection: close`),
   * idle ones after DRAIN_IDLE_MS unless a request comes first; all at once
   * when `force`.
   */
  close(force: boolean): void;
  /** Client connections open now (a draining daemon waits for 0). */
  readonly connections: number;
}

export function createFront(options: FrontOptions): Front {
  const { table, registry, logger, proto } = options;
  const pool = new IdlePool<BackendState, Upstream>({ maxIdleMs: MAX_IDLE_MS, size: POOL_SIZE, close: (up) => up.sock?.end() });
  /** Every upstream connection, open or opening, by backend key: what abandon() cuts. */
  const live = new Map<string, Set<Upstream>>();
  const stopAbandoning = registry.onAbandon(abandon);
  /** Client connections, for close(). */
  const open = new Set<Client>();
  let closing = false;
  /** X-Forwarded-Proto and -Port, the same for every request: built at the first (the port is known by then). */
  let protoAndPort: string | undefined;
  /** A coarse clock for pooled connections' idle time, instead of a clock read per request. */
  let now = performance.now();
  const clock = setInterval(() => (now = performance.now()), 250);
  clock.unref();
  const watch = new HeadWatch(options.heads ?? DEFAULT_HEAD_LIMITS);
  const sweeper = setInterval(sweep, Math.min(1000, watch.limits.headTimeoutMs / 4));
  sweeper.unref();

  // ---- client side -------------------------------------------------------

  function onData(c: Client, chunk: Buffer): void {
    switch (c.state) {
      case C.Piped:
        if (!put(c.pipe!.sock, c.pipe!, chunk)) pauseClient(c);
        return;
      case C.Tunnel:
        sendUp(c, chunk);
        return;
      case C.Body:
        forwardBody(c, chunk);
        return;
      case C.Closing:
        return;
      default:
        c.buf = c.buf === null ? chunk : append(c.buf, chunk);
        if (c.state === C.Head) nextRequest(c);
        else if (c.buf.length > PIPELINE_LIMIT) pauseClient(c);
    }
  }

  /** Parses and starts the next buffered request, if its head is complete (on a piped connection, every one buffered). */
  function nextRequest(c: Client): void {
    for (;;) {
      if (!nextHead(c)) return;
    }
  }

  /** One request: true when a piped one went to the slow path whole and the next may follow at once. */
  function nextHead(c: Client): boolean {
    let buf = c.buf;
    if (buf === null) return false;
    // Stray CRLFs between requests are ignored (RFC 9112 §2.2).
    let skip = 0;
    while (skip + 1 < buf.length && buf[skip] === 13 && buf[skip + 1] === 10) skip += 2;
    if (skip > 0) {
      buf = c.buf = skip === buf.length ? null : buf.subarray(skip);
      c.scanned = 0;
    }
    if (buf === null) return false;
    // A head arriving in pieces is searched from where the last search stopped.
    const end = buf.indexOf(CRLFCRLF, c.scanned > 3 ? c.scanned - 3 : 0);
    if (end < 0 || end > MAX_HEAD) {
      if (end > MAX_HEAD || buf.length > MAX_HEAD + 4) reject(c, 431, "request head too large");
      else {
        c.scanned = buf.length;
        watch.started(c, now);
      }
      return false;
    }
    c.scanned = 0;
    if (c.pending) watch.settle(c);
    const text = buf.toString("latin1", 0, end);
    let head: RequestHead;
    try {
      head = parseRequestHead(text);
    } catch (error) {
      const status = error instanceof HttpParseError ? error.status : 400;
      reject(c, status, error instanceof Error ? error.message : "bad request");
      return false;
    }
    c.buf = buf.length > end + 4 ? buf.subarray(end + 4) : null;
    if (c.pipe === null) {
      const route = head.target !== null && head.minor === 1 ? table.lookup(head.host) : undefined;
      if (!(route === undefined || route.states.length === 0 || table.inMaintenance(route.app) || options.bypass?.(head.host!, head.target!))) {
        send(c, head, route);
        return false;
      }
    }
    // For the slow path (isValidHost says why only here).
    if (head.host !== null && !isValidHost(head.host)) {
      reject(c, 400, "bad host header");
      return false;
    }
    // From this request on, the connection belongs to the slow path.
    c.pipe ??= pipes.open(c);
    return pipeRequest(c, head, text);
  }

  function send(c: Client, head: RequestHead, route: Route): void {
    const backend = nextBackend(route)!;
    const address = c.address;
    const forwarded =
      `\r\nx-forwarded-for: ${head.forwardedFor === null ? "" : `${head.forwardedFor}, `}${address}` +
      (head.host === null ? "" : `\r\nx-forwarded-host: ${head.host}`) +
      (protoAndPort ?? (protoAndPort = `\r\nx-forwarded-proto: ${proto}\r\nx-forwarded-port: ${options.publicPort()}`));
    const upgrade = head.websocket ? "\r\nconnection: upgrade\r\nupgrade: websocket" : "";
    const bytes = Buffer.from(`${head.method} ${head.target} HTTP/1.1${head.headers}${forwarded}${upgrade}\r\n\r\n`, "latin1");
    // Never back to false: a shutdown (close()) may have asked for it already.
    c.closeAfter ||= head.close;
    c.state = head.body === "none" ? C.Wait : C.Body;
    c.body = head.length;
    c.chunked = head.body === "chunked" ? new ChunkedDecoder() : null;
    const up = upstreamFor(backend, route);
    bind(c, up, head);
    up.replay = head.body === "none" && up.state !== U.Connecting && IDEMPOTENT.has(head.method) ? bytes : null;
    if (up.state === U.Idle) up.state = U.Head;
    if (!put(up.sock, up, bytes)) pauseClient(c);
    if (c.state === C.Body && c.buf !== null) {
      const rest = c.buf;
      c.buf = null;
      forwardBody(c, rest);
    }
  }

  function bind(c: Client, up: Upstream, head: { method: string; websocket: boolean }): void {
    c.up = up;
    up.client = c;
    up.method = head.method;
    up.websocket = head.websocket;
    up.answered = false;
    up.retried = false;
    up.counted = true;
    registry.started(up.backend);
  }

  function forwardBody(c: Client, chunk: Buffer): void {
    let rest: Buffer | null = null;
    if (c.chunked !== null) {
      let end: number;
      try {
        end = c.chunked.feed(chunk);
      } catch (error) {
        abort(c, error);
        return;
      }
      if (end >= 0) {
        rest = end < chunk.length ? chunk.subarray(end) : null;
        chunk = chunk.subarray(0, end);
      }
    } else if (chunk.length >= c.body) {
      rest = chunk.length > c.body ? chunk.subarray(c.body) : null;
      chunk = chunk.subarray(0, c.body);
      c.body = 0;
    } else {
      c.body -= chunk.length;
    }
    if (chunk.length > 0) sendUp(c, chunk);
    if (c.chunked === null ? c.body === 0 : c.chunked.done) {
      c.chunked = null;
      // A piped request's answer comes back as bytes, unframed: the next request may follow at once.
      c.state = c.pipe === null ? C.Wait : C.Head;
      if (rest !== null) onData(c, rest);
    }
  }

  function sendUp(c: Client, data: Uint8Array): void {
    const up = c.up;
    if (up === null) {
      if (c.pipe !== null && !put(c.pipe.sock, c.pipe, data)) pauseClient(c);
      return;
    }
    up.replay = null;
    if (!put(up.sock, up, data)) pauseClient(c);
  }

  // The upstream (or pipe) cannot take more, or pipelined requests pile up: stop reading the client.
  // pause()/resume() reach the event loop (epoll): called only on a change, not per request.
  function pauseClient(c: Client): void {
    if (c.paused) return;
    c.paused = true;
    c.wire.pause();
  }

  function resumeClient(c: Client | null): void {
    if (c === null || !c.paused) return;
    c.paused = false;
    c.wire.resume();
  }

  function sendClient(c: Client, data: Uint8Array, source: Socket<unknown>): void {
    if (c.closed) return;
    if (!put(c.wire, c, data) && c.blocked !== source) {
      // One source at a time feeds a client (its upstream, or the pipe): a previous one has finished.
      unblock(c);
      source.pause();
      c.blocked = source;
    }
  }

  function onDrain(c: Client): void {
    if (!flush(c.wire, c)) return;
    // A keep-alive connection's idle time starts once the client has read everything.
    if (!c.pending) c.since = now;
    unblock(c);
    if (c.endWhenFlushed) c.wire.end();
  }

  /** Resumes the socket paused while the client could not take more. */
  function unblock(c: Client): void {
    const blocked = c.blocked;
    c.blocked = null;
    blocked?.resume();
  }

  function onClose(c: Client): void {
    c.closed = true;
    watch.settle(c);
    c.state = C.Closing;
    c.out = null;
    unblock(c);
    dropUpstream(c);
    if (c.pipe !== null) c.pipe.sock?.terminate(); // gone for good: the slow path aborts what it streams to it (a push: its build is cancelled)
  }

  /** Answers a malformed request and closes. */
  function reject(c: Client, status: number, reason: string): void {
    c.state = C.Closing;
    c.buf = null;
    put(c.wire, c, plainError(status, reason));
    endClient(c);
  }

  /** A request whose body cannot be framed: nothing sensible can follow. */
  function abort(c: Client, error: unknown): void {
    logger.warn("router.bad_request_body", {
      error: error instanceof Error ? error.message : String(error),
    });
    c.state = C.Closing;
    dropUpstream(c);
    c.wire.terminate();
  }

  /** Mid-exchange, the client's upstream connection cannot be reused: it is closed. */
  function dropUpstream(c: Client): void {
    const up = c.up;
    if (up === null) return;
    c.up = null;
    release(up);
    up.client = null;
    up.sock?.terminate();
  }

  function endClient(c: Client): void {
    if (c.closed) return;
    c.state = C.Closing;
    if (c.out === null) c.wire.end();
    else c.endWhenFlushed = true;
  }

  // ---- hand-off to the slow path (handoff.ts) -------------------------------

  const pipes = new SlowPathPipes<Client>({
    socketPath: options.slowPath,
    isClosed: (c) => c.closed,
    toClient: sendClient,
    resume: resumeClient,
    ended: endClient,
    unreachable: (c) => reject(c, 502, "the router's internal listener is not answering"),
  });

  /**
   * Sends a request to the slow path with the client header first (handoff.ts).
   * After an upgrade or a CONNECT, what follows is no more requests: the rest
   * of the connection goes raw. True when the next request may be parsed now.
   */
  function pipeRequest(c: Client, head: RequestHead, text: string): boolean {
    const line = text.indexOf("\r\n");
    const client = clientHeaderLine(options.handoffSecret, c.address, c.wire.remotePort);
    sendUp(c, Buffer.from(line < 0 ? `${text}${client}\r\n\r\n` : `${text.slice(0, line)}${client}${text.slice(line)}\r\n\r\n`, "latin1"));
    if (head.websocket || head.method === "CONNECT" || UPGRADE.test(text)) {
      c.state = C.Piped;
      const rest = c.buf;
      c.buf = null;
      if (rest !== null) sendUp(c, rest);
      return false;
    }
    if (head.body === "none") {
      c.state = C.Head;
      return true;
    }
    c.state = C.Body;
    c.body = head.length;
    c.chunked = head.body === "chunked" ? new ChunkedDecoder() : null;
    if (c.buf !== null) {
      const rest = c.buf;
      c.buf = null;
      forwardBody(c, rest);
    }
    return false;
  }

  // ---- upstream side ------------------------------------------------------

  /** A pooled connection to `backend`, or a new one (connecting; writes queue until it opens). */
  function upstreamFor(backend: BackendState, route: Route): Upstream {
    const up = pool.take(backend, now);
    if (up === undefined) return connect(backend, route);
    up.route = route;
    return up;
  }

  function connect(backend: BackendState, route: Route | null): Upstream {
    const up: Upstream = {
      sock: null,
      backend,
      route,
      client: null,
      state: U.Connecting,
      buf: null,
      body: 0,
      chunked: null,
      method: "GET",
      websocket: false,
      keepAlive: true,
      out: null,
      replay: null,
      counted: false,
      retried: false,
      answered: false,
      abandoned: false,
      connectTimer: null,
      idleSince: 0,
    };
    up.connectTimer = setTimeout(connectTimedOut, CONNECT_TIMEOUT_MS, up);
    let set = live.get(backend.key);
    if (set === undefined) live.set(backend.key, (set = new Set()));
    set.add(up);
    const colon = backend.key.lastIndexOf(":");
    const host = backend.key.startsWith("[") ? backend.key.slice(1, colon - 1) : backend.key.slice(0, colon);
    Bun.connect<Upstream>({
      hostname: host,
      port: Number(backend.key.slice(colon + 1)),
      data: up,
      socket: upstreamHandlers,
    }).catch(() => {});
    return up;
  }

  /** Moves the client and everything queued for `from` onto a new connection to `backend`. */
  function retry(from: Upstream, backend: BackendState, c: Client, queued: Uint8Array[] | null): void {
    release(from);
    from.client = null;
    const up = connect(backend, from.route);
    bind(c, up, from);
    up.retried = true;
    up.out = queued;
  }

  /** A connection that ended (closed, or never opened) leaves the live set. */
  function gone(up: Upstream): void {
    const set = live.get(up.backend.key);
    if (set !== undefined && set.delete(up) && set.size === 0) live.delete(up.backend.key);
  }

  function connectTimedOut(up: Upstream): void {
    if (up.sock !== null || up.abandoned) return;
    up.abandoned = true;
    gone(up);
    if (up.client !== null) upstreamClosed(up, Object.assign(new Error(`connect took over ${CONNECT_TIMEOUT_MS / 1000} s`), { code: "ETIMEDOUT" }));
  }

  /** Cuts every connection to a backend whose replica died (Router.abandon). */
  function abandon(key: string): void {
    const set = live.get(key);
    if (set === undefined) return;
    for (const up of [...set]) {
      up.abandoned = true;
      if (up.sock !== null) up.sock.terminate();
      else if (up.client !== null) upstreamClosed(up, new Error("its replica died"));
    }
  }

  function release(up: Upstream): void {
    if (!up.counted) return;
    up.counted = false;
    registry.finished(up.backend);
  }

  const upstreamHandlers = {
    open(sock: Socket<Upstream>) {
      const up = sock.data;
      up.sock = sock;
      clearTimeout(up.connectTimer!);
      if (up.abandoned) {
        sock.terminate();
        return;
      }
      sock.setNoDelay(true);
      up.state = up.client === null ? U.Idle : U.Head;
      if (up.client === null) {
        sock.end();
        return;
      }
      if (flush(sock, up)) resumeClient(up.client);
    },
    data(sock: Socket<Upstream>, chunk: Buffer) {
      const up = sock.data;
      const c = up.client;
      if (c === null) {
        // Bytes from an idle connection: nothing asked for them.
        sock.terminate();
        return;
      }
      switch (up.state) {
        case U.Tunnel:
          sendClient(c, chunk, sock as Socket<unknown>);
          return;
        case U.Body:
          responseBody(up, c, chunk);
          return;
        default:
          up.buf = up.buf === null ? chunk : append(up.buf, chunk);
          responseHead(up, c);
      }
    },
    drain(sock: Socket<Upstream>) {
      const up = sock.data;
      if (flush(sock, up)) resumeClient(up.client);
    },
    close(sock: Socket<Upstream>) {
      gone(sock.data);
      upstreamClosed(sock.data, null);
    },
    connectError(sock: Socket<Upstream>, error: Error) {
      const up = sock.data;
      clearTimeout(up.connectTimer!);
      gone(up);
      const c = up.client;
      if (c === null) return;
      const refused = (error as { code?: string }).code === "ECONNREFUSED";
      const next = refused && !up.retried && up.route !== null ? nextBackend(up.route) : undefined;
      if (next !== undefined && next !== up.backend) {
        logger.warn("router.upstream_refused", {
          app: up.route!.app,
          backend: up.backend.key,
          retry: next.key,
        });
        retry(up, next, c, up.out);
        return;
      }
      upstreamClosed(up, error);
    },
    error() {},
  };

  function upstreamClosed(up: Upstream, error: Error | null): void {
    if (up.client === null) {
      pool.remove(up.backend, up);
      return;
    }
    const c = up.client;
    if (up.state === U.Head && up.buf === null && !up.answered && up.replay !== null && !up.retried && !up.abandoned) {
      // A pooled connection the backend had closed: the request never arrived.
      retry(up, up.backend, c, [up.replay]);
      return;
    }
    release(up);
    up.client = null;
    c.up = null;
    if (up.state === U.Tunnel || (up.state === U.Body && up.chunked === null && up.body < 0)) {
      // A tunnel, or a body read until the upstream closes: the end is the end.
      endClient(c);
      return;
    }
    const event = up.answered ? "router.upstream_body_failed" : "router.upstream_failed";
    logger.warn(event, {
      app: up.route?.app ?? "?",
      backend: up.backend.key,
      error: error === null ? "closed before the answer ended" : describeError(error),
    });
    if (up.answered) c.wire.terminate();
    else {
      c.state = C.Closing;
      put(c.wire, c, errorPageBytes(502));
      endClient(c);
    }
  }

  function responseHead(up: Upstream, c: Client): void {
    for (;;) {
      const buf = up.buf!;
      const end = buf.indexOf(CRLFCRLF);
      if (end < 0 || end > MAX_HEAD) {
        if (end > MAX_HEAD || buf.length > MAX_HEAD + 4) badResponse(up, c, "response head too large");
        return;
      }
      const text = buf.toString("latin1", 0, end);
      let head;
      try {
        head = parseResponseHead(text, up.method);
      } catch (error) {
        badResponse(up, c, error instanceof Error ? error.message : "bad response");
        return;
      }
      up.buf = null;
      up.replay = null;
      if (head.status === 101) {
        const rest = after(buf, end + 4);
        if (!up.websocket) {
          badResponse(up, c, "101 to a request that asked for no upgrade");
          return;
        }
        up.answered = true;
        up.state = U.Tunnel;
        c.state = C.Tunnel;
        release(up);
        sendClient(c, buf.subarray(0, rest === null ? buf.length : end + 4), up.sock as Socket<unknown>);
        if (rest !== null) sendClient(c, rest, up.sock as Socket<unknown>);
        if (c.buf !== null) {
          const early = c.buf;
          c.buf = null;
          sendUp(c, early);
        }
        resumeClient(c);
        return;
      }
      if (head.status < 200) {
        const rest = after(buf, end + 4);
        // 100 Continue, 103 Early Hints: passed on, and the real answer follows.
        sendClient(c, head.head === text ? buf.subarray(0, end + 4) : Buffer.from(`${head.head}\r\n\r\n`, "latin1"), up.sock as Socket<unknown>);
        if (rest === null) return;
        up.buf = rest;
        continue;
      }
      up.answered = true;
      const closing = c.closeAfter || head.body === "close" || c.state === C.Body;
      const unchanged = head.head === text && !closing;
      up.keepAlive = head.keepAlive;
      if (unchanged && head.body === "length" && buf.length === end + 4 + head.length) {
        // The whole answer in one read, head unchanged: pass the bytes on as they came.
        sendClient(c, buf, up.sock as Socket<unknown>);
        finish(up, c);
        return;
      }
      const rest = after(buf, end + 4);
      const headBytes = unchanged ? buf.subarray(0, end + 4) : Buffer.from(`${head.head}${closing ? "\r\nconnection: close" : ""}\r\n\r\n`, "latin1");
      if (closing) c.closeAfter = true;
      if (head.body === "none") {
        sendClient(c, headBytes, up.sock as Socket<unknown>);
        if (rest !== null) up.keepAlive = false;
        finish(up, c);
        return;
      }
      up.state = U.Body;
      up.body = head.body === "length" ? head.length : -1;
      up.chunked = head.body === "chunked" ? new ChunkedDecoder() : null;
      sendClient(c, headBytes, up.sock as Socket<unknown>);
      if (rest !== null) responseBody(up, c, rest);
      else if (head.body === "length" && head.length === 0) finish(up, c);
      return;
    }
  }

  function responseBody(up: Upstream, c: Client, chunk: Buffer): void {
    const sock = up.sock as Socket<unknown>;
    if (up.chunked !== null) {
      let end: number;
      try {
        end = up.chunked.feed(chunk);
      } catch (error) {
        badResponse(up, c, error instanceof Error ? error.message : "bad chunk");
        return;
      }
      if (end < 0) {
        sendClient(c, chunk, sock);
        return;
      }
      sendClient(c, end === chunk.length ? chunk : chunk.subarray(0, end), sock);
      if (end < chunk.length) up.keepAlive = false;
      finish(up, c);
      return;
    }
    if (up.body < 0) {
      sendClient(c, chunk, sock);
      return;
    }
    if (chunk.length < up.body) {
      up.body -= chunk.length;
      sendClient(c, chunk, sock);
      return;
    }
    if (chunk.length > up.body) up.keepAlive = false;
    sendClient(c, chunk.length === up.body ? chunk : chunk.subarray(0, up.body), sock);
    up.body = 0;
    finish(up, c);
  }

  function badResponse(up: Upstream, c: Client, reason: string): void {
    logger.warn("router.upstream_failed", {
      app: up.route?.app ?? "?",
      backend: up.backend.key,
      error: reason,
    });
    up.keepAlive = false;
    release(up);
    up.client = null;
    c.up = null;
    up.sock?.terminate();
    if (up.answered) {
      c.wire.terminate();
      return;
    }
    c.state = C.Closing;
    put(c.wire, c, errorPageBytes(502));
    endClient(c);
  }

  /** The answer is complete: the upstream goes back to the pool, the client on to its next request. */
  function finish(up: Upstream, c: Client): void {
    release(up);
    up.client = null;
    c.up = null;
    up.state = U.Idle;
    up.chunked = null;
    // Paused because the client was slow to read the end of this answer: nothing more of it is coming.
    if (c.blocked === up.sock) unblock(c);
    const reusable = up.keepAlive && c.state !== C.Body && up.out === null && up.sock !== null && !closing;
    if (reusable) pool.give(up.backend, up, now);
    else up.sock?.end();
    if (c.state === C.Body) {
      // Answered before the body was sent (a 413, say): the rest of the body is not read.
      c.closeAfter = true;
    }
    afterExchange(c);
  }

  function afterExchange(c: Client): void {
    if (c.closeAfter) {
      endClient(c);
      return;
    }
    c.state = C.Head;
    c.since = now;
    resumeClient(c);
    nextRequest(c);
  }

  /** Once a second: a head that is late gets its 408, a keep-alive connection idle too long is closed. */
  function sweep(): void {
    now = performance.now();
    for (const c of open) {
      if (c.state !== C.Head) continue;
      // A piped connection between requests may be streaming a long answer from the slow path: never idle.
      const due = watch.due(c, c.pipe === null && c.buf === null && c.out === null, now);
      if (due === "late") reject(c, 408, "the request head took too long");
      else if (due === "idle") endClient(c);
    }
  }

  return {
    handlers: {
      open: (wire) => {
        const c: Client = {
          wire,
          address: wire.remoteAddress,
          addressKey: addressKey(wire.remoteAddress),
          pending: false,
          since: now,
          scanned: 0,
          paused: false,
          state: C.Head,
          buf: null,
          body: 0,
          chunked: null,
          up: null,
          pipe: null,
          out: null,
          blocked: null,
          closeAfter: false,
          endWhenFlushed: false,
          closed: false,
        };
        if (closing) wire.end();
        else if (!watch.admit(c)) reject(c, 429, "too many connections from your address are waiting to send a request");
        else open.add(c);
        return c;
      },
      data: onData,
      drain: onDrain,
      close: (c) => {
        open.delete(c);
        onClose(c);
      },
    },
    close(force) {
      closing = true;
      stopAbandoning();
      clearInterval(clock);
      clearInterval(sweeper);
      pool.closeAll();
      for (const c of open) {
        if (force) c.wire.terminate();
        else c.closeAfter = true;
      }
      if (force) return;
      // A keep-alive client idle now may be sending its next request this instant: closing it
      // would fail that request. It gets DRAIN_IDLE_MS to send one, answered with
      // `connection: close`; whoever is still idle after that is closed. A piped connection is
      // the slow path's to end (it may still be streaming an answer): its own stop does.
      setTimeout(() => {
        for (const c of open) if (c.state === C.Head && c.buf === null && c.up === null) endClient(c);
      }, DRAIN_IDLE_MS).unref();
    },
    get connections() {
      return open.size;
    },
  };
}

function describeError(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? code : error.message;
}
