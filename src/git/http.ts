import type { FileSink } from "bun";
import { resolve } from "node:path";
import { RateLimited } from "../lib/errors.ts";
import { killGroup, start } from "../lib/exec.ts";
import type { Logger } from "../lib/logger.ts";
import { decideAccess, type GitAccessOptions, type GitUser, gitProcessEnv, safeGitProtocol } from "./access.ts";
import { readCgiResponse } from "./cgi.ts";
import { pipes } from "./pipes.ts";
import { type GitRoute, parseGitPath } from "./http-path.ts";
import { ensureRepo, type RepoOptions } from "./repos.ts";
import { createIdleTimer, type IdleTimer } from "./idle-timer.ts";

export interface GitHttpOptions extends GitAccessOptions, Pick<RepoOptions, "maxPushBytes"> {
  reposDir: string;
  /** argv of the pre-receive hook written into each repository. */
  hookCommand: readonly string[];
  logger: Logger;
  /**
   * The user behind the request's credentials (Basic auth, API key as password),
   * or null; throws RateLimited when the client's address has to wait (429).
   */
  authenticate(req: Request, clientIp?: string): Promise<GitUser | null>;
  /** Extra env for git and the pre-receive hook, e.g. `{ BEAMSTALK_SOCKET }`. */
  hookEnv(user: GitUser, app: string, req?: Request): Record<string, string>;
  /**
   * Kill git http-backend when the request body (the pushed pack) moves no
   * byte for this long. Default 10 minutes. See createGitHttp.
   */
  uploadIdleTimeoutMs?: number;
}

/** The part of Bun's Server the handler uses to lift its idle timeout for a git request. */
export interface RequestTimeouts {
  timeout(req: Request, seconds: number): void;
  /** The client as the router's front saw it (for the rate limits). */
  requestIP?(req: Request): { address: string } | null;
}

export type GitHttpHandler = (req: Request, server?: RequestTimeouts) => Promise<Response | null>;

const REALM = 'Basic realm="beamstalk"';

/**
 * Git's smart HTTP protocol, spoken by `git http-backend`. Returns null for
 * paths that are not git paths, so the caller falls through to the API.
 *
 * Stalled transfers: the idle timer counts only the upload of the request body
 * (the pack a push sends, or the wants of a fetch) and the response bytes of
 * upload-pack. Once a push's body has arrived, receive-pack runs the
 * pre-receive hook, and a build may be silent for a long time; that phase is
 * bounded by the daemon's build timeout, not here. A client that vanishes
 * aborts req.signal, which kills the process.
 */
export function createGitHttp(given: GitHttpOptions): GitHttpHandler {
  const options = { ...given, reposDir: resolve(given.reposDir) };
  const idleMs = options.uploadIdleTimeoutMs ?? 10 * 60_000;
  return async (req, server) => {
    const parsed = parseGitPath(req.method, req.url);
    if (parsed === null) return null;
    if (!parsed.ok) return text(parsed.status, parsed.message);
    const { route } = parsed;
    let user: GitUser | null;
    try {
      user = await options.authenticate(req, server?.requestIP?.(req)?.address);
    } catch (error) {
      if (!(error instanceof RateLimited)) throw error;
      return text(429, `${error.message}; ${error.hint}`, { "Retry-After": String(error.retryAfter) });
    }
    if (!user) {
      return text(401, "authentication required: use your API key as the password (`beamstalk login` writes ~/.netrc)", {
        "WWW-Authenticate": REALM,
      });
    }
    const need = route.service === "git-receive-pack" ? "write" : "read";
    const access = decideAccess(options, user, route.app, need);
    if (!access.ok) return text(access.status, access.message);
    server?.timeout(req, 0);
    try {
      await ensureRepo(options, route.app);
      return await runBackend(options, idleMs, req, route, user);
    } catch (err) {
      options.logger.error("git.http.failed", { app: route.app, error: err instanceof Error ? err.message : String(err) });
      return text(500, "the git server failed; see the server log");
    }
  };
}

async function runBackend(options: GitHttpOptions, idleMs: number, req: Request, route: GitRoute, user: GitUser): Promise<Response> {
  const pathInfo = route.kind === "advertise" ? `/${route.app}.git/info/refs` : `/${route.app}.git/${route.service}`;
  const env: Record<string, string> = {
    ...gitProcessEnv(user, options.hookEnv(user, route.app, req)),
    GIT_PROJECT_ROOT: options.reposDir,
    GIT_HTTP_EXPORT_ALL: "1",
    REQUEST_METHOD: req.method,
    PATH_INFO: pathInfo,
    QUERY_STRING: route.kind === "advertise" ? `service=${route.service}` : "",
    REMOTE_USER: user.email,
    REMOTE_ADDR: "127.0.0.1",
    GATEWAY_INTERFACE: "CGI/1.1",
  };
  const contentType = req.headers.get("content-type");
  if (contentType) env.CONTENT_TYPE = contentType;
  const contentLength = req.headers.get("content-length");
  if (contentLength && /^\d+$/.test(contentLength)) env.CONTENT_LENGTH = contentLength;
  const encoding = req.headers.get("content-encoding");
  if (encoding === "gzip" || encoding === "x-gzip") env.HTTP_CONTENT_ENCODING = encoding;
  const protocol = safeGitProtocol(req.headers.get("git-protocol"));
  if (protocol) env.GIT_PROTOCOL = protocol;
  if (pushHeader(req, "clean")) env.BEAMSTALK_CLEAN = "1";
  if (pushHeader(req, "hot")) env.BEAMSTALK_HOT = "1";

  const log = { app: route.app, service: route.service, user: user.id };
  if (route.kind === "rpc") options.logger.info("git.http.rpc", log);
  // Its own process group: a client that vanishes ends receive-pack and the pre-receive hook too, and the
  // hook's going away cancels a build still running (src/api/internal.ts).
  const proc = start(["git", "http-backend"], { env, cleanEnv: true, stdin: "pipe", detached: true });
  const body = req.body?.getReader();
  const timer = createIdleTimer(idleMs, () => {
    options.logger.warn("git.http.stalled", { ...log, idle_ms: idleMs });
    killGroup(proc.pid);
    body?.cancel().catch(() => {});
  });
  const onAbort = () => killGroup(proc.pid);
  req.signal.addEventListener("abort", onAbort);
  void proc.exited.then((code) => {
    timer.stop();
    req.signal.removeEventListener("abort", onAbort);
    if (code !== 0) options.logger.warn("git.http.exit", { ...log, code });
  });
  const { stdin, stdout, stderr } = pipes(proc);
  void logStderr(stderr, options.logger, log);
  void pumpBody(body, stdin, timer, route.service === "git-upload-pack");

  const cgi = await readCgiResponse(stdout, () => timer.touch());
  cgi.headers.set("Cache-Control", "no-cache");
  return new Response(cgi.body, { status: cgi.status, headers: cgi.headers });
}

/** Streams the request body into http-backend's stdin; the idle timer watches it. */
interface BodyReader {
  read(): Promise<{ done: boolean; value?: Uint8Array }>;
}

async function pumpBody(body: BodyReader | undefined, stdin: FileSink, timer: IdleTimer, keepTimer: boolean): Promise<void> {
  try {
    while (body) {
      const { done, value } = await body.read();
      if (done || !value) break;
      timer.touch();
      stdin.write(value);
      await stdin.flush();
    }
  } catch {
    // the client went away, stalled, or the process died; closing stdin below ends it
  } finally {
    if (!keepTimer) timer.stop();
    try {
      await stdin.end();
    } catch {
      // already closed
    }
  }
}

async function logStderr(stderr: ReadableStream<Uint8Array>, logger: Logger, fields: Record<string, string | number>): Promise<void> {
  const message = (await new Response(stderr).text()).trim();
  if (message) logger.warn("git.http.stderr", { ...fields, message: message.slice(0, 2000) });
}

function text(status: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(message + "\n", { status, headers: { "Content-Type": "text/plain; charset=utf-8", ...headers } });
}

/** `BEAMSTALK-<NAME>: true`, or GIGALIXIR's `GIGALIXIR-<NAME>: true`, as its instructions write the push. */
function pushHeader(req: Request, name: "clean" | "hot"): boolean {
  return ["beamstalk", "gigalixir"].some((vendor) => req.headers.get(`${vendor}-${name}`)?.trim().toLowerCase() === "true");
}
