import type { Server } from "bun";
import type { Logger } from "../lib/logger.ts";
import type { BackendRegistry, BackendState } from "./backends.ts";
import { cleanResponseHeaders, forwardRequestHeaders } from "./headers.ts";
import { errorPage } from "./pages.ts";
import { nextBackend, type Route } from "./route-table.ts";

export interface ProxyContext {
  registry: BackendRegistry;
  logger: Logger;
  proto: "http" | "https";
}

/**
 * Bodies up to this size (by Content-Length) are read whole from the upstream
 * and handed to Bun as bytes: measured as fast as passing the upstream
 * Response through, and it tells exactly when the backend is done. Anything
 * larger, or without a length, streams.
 */
const SMALL_BODY = 64 * 1024;

/** Sends one HTTP request to the route's next backend and relays the answer. */
export async function proxyHttp(req: Request, server: Server<unknown>, route: Route, ctx: ProxyContext): Promise<Response> {
  let backend = nextBackend(route);
  if (!backend) return errorPage(503);
  server.timeout(req, 0);
  const headers = req.headers;
  forwardRequestHeaders(headers, { clientIp: server.requestIP(req)?.address, proto: ctx.proto, port: server.port });
  const url = req.url;
  const pathStart = url.indexOf("/", url.indexOf("//") + 2);
  const path = pathStart < 0 ? "/" : url.slice(pathStart);
  const method = req.method;
  const init: BunFetchRequestInit = { method, headers, body: req.body, duplex: "half", redirect: "manual", decompress: false, timeout: false };
  const { registry } = ctx;
  for (let attempt = 0; ; attempt++) {
    const exchange = begin(registry, backend, req.signal);
    let response: Response;
    try {
      response = await fetch(backend.origin + path, { ...init, signal: exchange.signal });
    } catch (error) {
      exchange.finish();
      if (req.signal.aborted) return clientGone();
      const next = attempt === 0 && isRefused(error) ? nextBackend(route) : undefined;
      if (next && next !== backend) {
        ctx.logger.warn("router.upstream_refused", { app: route.app, backend: backend.key, retry: next.key });
        backend = next;
        continue;
      }
      ctx.logger.warn("router.upstream_failed", { app: route.app, backend: backend.key, error: describe(error) });
      return errorPage(502);
    }
    return relay(response, method, exchange, backend, route, ctx);
  }
}

interface Exchange {
  /** Aborts when the client goes away, or when the backend is abandoned (its replica died). */
  signal: AbortSignal;
  /** Once, when the answer has ended (or failed): no longer in flight, no longer cut by abandon(). */
  finish(): void;
}

/**
 * One request to a backend, in flight until finish(): counted for drain(),
 * and held for abandon(). A replica on another host that vanished answers
 * nothing and resets nothing, so without the cut its request would wait for
 * the kernel to give up (72-135 s in the Swarm tests).
 */
function begin(registry: BackendRegistry, backend: BackendState, clientSignal: AbortSignal): Exchange {
  const cut = new AbortController();
  registry.started(backend);
  const forget = registry.hold(backend, () => cut.abort(new Error("its replica died")));
  let finished = false;
  return {
    signal: AbortSignal.any([clientSignal, cut.signal]),
    finish() {
      if (finished) return;
      finished = true;
      forget();
      registry.finished(backend);
    },
  };
}

function relay(response: Response, method: string, exchange: Exchange, backend: BackendState, route: Route, ctx: ProxyContext): Response | Promise<Response> {
  const headers = response.headers;
  cleanResponseHeaders(headers);
  const status = response.status;
  if (method === "HEAD" || status === 204 || status === 304) {
    exchange.finish();
    return response;
  }
  const length = headers.get("content-length");
  if (length !== null && Number(length) <= SMALL_BODY) {
    return (response as Response & { bytes(): Promise<Uint8Array> }).bytes().then(
      (bytes: Uint8Array) => {
        exchange.finish();
        return new Response(bytes, { status, statusText: response.statusText, headers });
      },
      (error: unknown) => {
        exchange.finish();
        ctx.logger.warn("router.upstream_failed", { app: route.app, backend: backend.key, error: describe(error) });
        return errorPage(502);
      },
    );
  }
  const body = response.body;
  if (body === null) {
    exchange.finish();
    return response;
  }
  const onEnd = (error?: unknown) => {
    exchange.finish();
    if (error !== undefined) ctx.logger.warn("router.upstream_body_failed", { app: route.app, backend: backend.key, error: describe(error) });
  };
  return new Response(countedStream(body, onEnd), { status, statusText: response.statusText, headers });
}

/**
 * Passes chunks through one at a time (so a slow stream arrives as it is
 * written and nothing large is buffered) and calls onEnd once: at the end, on
 * an upstream error, or when the client goes away.
 */
export function countedStream(body: ReadableStream<Uint8Array>, onEnd: (error?: unknown) => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let ended = false;
  const end = (error?: unknown) => {
    if (ended) return;
    ended = true;
    onEnd(error);
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          end(isAbort(error) ? undefined : error);
          controller.error(error);
          return;
        }
        if (chunk.done) {
          end();
          controller.close();
        } else {
          controller.enqueue(chunk.value);
        }
      },
      cancel(reason) {
        end();
        return reader.cancel(reason).catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}

/** The client left before an answer: nobody reads this response. */
function clientGone(): Response {
  return new Response(null, { status: 499 });
}

export function isRefused(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === "ECONNREFUSED";
}

function isAbort(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { name?: unknown }).name === "AbortError";
}

export function describe(error: unknown): string {
  if (typeof error === "object" && error !== null) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (typeof code === "string") return code;
    if (typeof message === "string") return message;
  }
  return String(error);
}
