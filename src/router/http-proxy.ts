import type { Server } from "bun";
import type { Logger } from "../lib/logger.ts";
import type { BackendRegistry, BackendState } from "./backends.ts";
import { type RequestFraming, requestHead } from "./http1.ts";
import { errorPage } from "./pages.ts";
import { nextBackend, type Route } from "./route-table.ts";
import type { UpstreamRequest } from "./upstream.ts";

export interface ProxyContext {
  registry: BackendRegistry;
  logger: Logger;
  proto: "http" | "https";
}

/**
 * Sends one HTTP request to the route's next backend (over its keep-alive
 * pool, see upstream.ts) and relays the answer, streaming both ways.
 */
export function proxyHttp(req: Request, server: Server<unknown>, route: Route, ctx: ProxyContext): Response | Promise<Response> {
  const backend = nextBackend(route);
  if (!backend) return errorPage(503);
  server.timeout(req, 0);
  const headers = req.headers;
  const body = req.body;
  // Bun has read the client's framing: a body with a Content-Length keeps it, one without is re-chunked.
  const framing: RequestFraming = body === null ? (headers.has("content-length") ? "empty" : "none") : headers.has("content-length") ? "length" : "chunked";
  const url = req.url;
  const pathStart = url.indexOf("/", url.indexOf("//") + 2);
  const method = req.method;
  const head = Buffer.from(
    requestHead({ method, path: pathStart < 0 ? "/" : url.slice(pathStart), headers, clientIp: server.requestIP(req)?.address, proto: ctx.proto, framing }),
    "latin1",
  );
  return send({ method, head, body, chunked: framing === "chunked", signal: req.signal, onEnd: undefined }, backend, 0, route, ctx);
}

/** One attempt on `backend`; a refused first attempt goes once to the next backend (the body has not been read yet). */
function send(request: UpstreamRequest, backend: BackendState, attempt: number, route: Route, ctx: ProxyContext): Promise<Response> {
  const { registry } = ctx;
  registry.started(backend);
  request.onEnd = (error?: unknown) => {
    registry.finished(backend);
    if (error !== undefined) ctx.logger.warn("router.upstream_body_failed", { app: route.app, backend: backend.key, error: describe(error) });
  };
  return backend.upstream.request(request).catch((error: unknown) => {
    registry.finished(backend);
    if (request.signal.aborted) return clientGone();
    const next = attempt === 0 && isRefused(error) ? nextBackend(route) : undefined;
    if (next && next !== backend) {
      ctx.logger.warn("router.upstream_refused", { app: route.app, backend: backend.key, retry: next.key });
      return send(request, next, attempt + 1, route, ctx);
    }
    ctx.logger.warn("router.upstream_failed", { app: route.app, backend: backend.key, error: describe(error) });
    return errorPage(502);
  });
}

/** The client left before an answer: nobody reads this response. */
function clientGone(): Response {
  return new Response(null, { status: 499 });
}

export function isRefused(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === "ECONNREFUSED";
}

export function describe(error: unknown): string {
  if (typeof error === "object" && error !== null) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (typeof code === "string") return code;
    if (typeof message === "string") return message;
  }
  return String(error);
}
