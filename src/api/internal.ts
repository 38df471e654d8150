import { Hono } from "hono";
import { badRequest, notFound } from "../lib/errors.ts";
import { isAppName, isRefUpdate } from "../lib/validate.ts";
import type { PushRequest } from "../deploy/types.ts";
import { type ApiDeps, type Env, readJson } from "./context.ts";

/** `beamstalk:exit=<n>`: the last line of a push response; the hook exits with n. */
export const exitLine = (code: number) => `beamstalk:exit=${code}`;

/**
 * Routes for the daemon's own processes (the pre-receive hook). They exist only
 * on the local unix socket: over TCP they answer 404 like any unknown route.
 */
export function internalRoutes(deps: ApiDeps) {
  const r = new Hono<Env>();

  r.use(async (c, next) => {
    if (c.env?.transport !== "unix") throw notFound(`no such route: ${c.req.method} ${c.req.path}`);
    await next();
  });

  r.post("/push", async (c) => {
    const hookGone = new AbortController();
    const req = { ...parsePush(await readJson(c)), signal: hookGone.signal };
    const encoder = new TextEncoder();
    // The hook may go away mid-push (git interrupted): a build still running is cancelled;
    // past the build the deploy carries on to a final state (a hot upgrade back to the old
    // release, say), so writing its output never throws.
    let gone = false;
    c.req.raw.signal.addEventListener("abort", () => hookGone.abort(), { once: true });
    const body = new ReadableStream<Uint8Array>({
      cancel() {
        gone = true;
        hookGone.abort();
      },
      async start(controller) {
        const out = (line: string) => {
          if (gone) return;
          try {
            controller.enqueue(encoder.encode(line.replace(/\n$/, "") + "\n"));
          } catch {
            gone = true;
          }
        };
        let code = 1;
        try {
          code = await deps.deploy.push(req, out);
        } catch (err) {
          deps.logger.error("push.internal_error", { app: req.app, error: (err as Error).message });
          out("!     internal error in the deploy pipeline; the server log has details");
        }
        out(exitLine(code));
        if (!gone) {
          try {
            controller.close();
          } catch {
            // the hook went away meanwhile
          }
        }
      },
    });
    return new Response(body, { headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" } });
  });

  return r;
}

/** The only env the hook passes on: where git keeps a push in quarantine (hook.ts's quarantineEnv). */
const QUARANTINE_KEYS = ["GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_QUARANTINE_PATH"] as const;

/** The hook's push request, checked; any other env it names (GIT_CONFIG_*, GIT_SSH_COMMAND, …) never reaches git. */
export function parsePush(body: Record<string, unknown>): PushRequest {
  const { app, userId, repoPath, refs, gitEnv, pushOptions, clean, hot } = body;
  if (!isAppName(app)) throw badRequest("push: invalid app");
  if (typeof repoPath !== "string") throw badRequest("push: repoPath missing");
  if (!Array.isArray(refs) || refs.some((r) => typeof r !== "object" || r === null || !isRefUpdate(r))) {
    throw badRequest("push: refs must be [{old, new, ref}]: object ids and valid ref names");
  }
  return {
    app,
    userId: typeof userId === "number" ? userId : null,
    repoPath,
    refs: refs as PushRequest["refs"],
    gitEnv: quarantineOnly(gitEnv),
    pushOptions: Array.isArray(pushOptions) ? pushOptions.filter((o): o is string => typeof o === "string") : [],
    clean: clean === true,
    hot: hot === true,
  };
}

function quarantineOnly(given: unknown): PushRequest["gitEnv"] {
  const env: PushRequest["gitEnv"] = {};
  if (typeof given !== "object" || given === null) return env;
  for (const key of QUARANTINE_KEYS) {
    const value = (given as Record<string, unknown>)[key];
    if (typeof value === "string") env[key] = value;
  }
  return env;
}
