import { Hono } from "hono";
import { badRequest, notFound } from "../lib/errors.ts";
import type { LogEntry } from "../logs/types.ts";
import { releaseJson } from "./apps.ts";
import { requireUser } from "./auth.ts";
import { type ApiDeps, type Env, appFor, readJson } from "./context.ts";

export const MAX_LOG_LINES = 10_000;
const DEFAULT_LOG_LINES = 100;

/**
 * Logs, drains and a release's build log, mounted at /api/apps/:app.
 * `GET logs` streams newline-delimited JSON entries ({time, source, replica, line}):
 * the last `num`, then (tail=true, the default) every new one until the client goes.
 */
export function logRoutes(deps: ApiDeps) {
  const r = new Hono<Env>();
  const user = requireUser(deps);

  r.get("/logs", user, (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "read");
    const num = parseNum(c.req.query("num"));
    const follow = parseBool(c.req.query("tail"), "tail", true);
    const abort = new AbortController();
    const signal = c.req.raw.signal;
    signal?.addEventListener("abort", () => abort.abort(), { once: true });
    const entries = deps.logs.entries(app.name, { num, follow, signal: abort.signal });
    return new Response(ndjson(entries, abort), {
      headers: { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-store", "x-content-type-options": "nosniff" },
    });
  });

  r.get("/drains", user, (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "read");
    return c.json(deps.logs.drains.list(app.name));
  });

  r.post("/drains", user, async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    const drain = deps.logs.drains.add(app.name, (await readJson(c)).url);
    deps.logger.info("drain.add", { app: app.name, user: c.var.user.email, id: drain.id, url: drain.url });
    return c.json(drain, 201);
  });

  r.delete("/drains/:id", user, async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    const id = Number(c.req.param("id"));
    if (!Number.isSafeInteger(id) || id < 1 || !(await deps.logs.drains.remove(app.name, id))) {
      throw notFound(`${app.name} has no drain ${c.req.param("id").slice(0, 20)}`, "`beamstalk drains` lists them");
    }
    deps.logger.info("drain.remove", { app: app.name, user: c.var.user.email, id });
    return c.body(null, 204);
  });

  r.get("/releases/:version", user, (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "read");
    const version = Number(c.req.param("version").replace(/^v/, ""));
    const release = Number.isSafeInteger(version) && version > 0 ? deps.state.releases.get(app.id, version) : null;
    if (!release) throw notFound(`${app.name} has no release ${c.req.param("version").slice(0, 20)}`, "`beamstalk releases` lists them");
    const json = { ...releaseJson(release), buildpacks: release.buildpacks };
    if (!parseBool(c.req.query("build_log"), "build_log", false)) return c.json(json);
    return c.json({ ...json, build_log: deps.logs.buildLog(app.name, version) });
  });

  return r;
}

function parseNum(raw: string | undefined): number {
  if (raw === undefined || raw === "") return DEFAULT_LOG_LINES;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_LOG_LINES) throw badRequest(`num must be a number of lines from 0 to ${MAX_LOG_LINES}`);
  return n;
}

function parseBool(raw: string | undefined, name: string, fallback: boolean): boolean {
  if (raw === undefined || raw === "") return fallback;
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  throw badRequest(`${name} must be true or false`);
}

/** Streams entries as they come, pulled one batch at a time so a slow client slows only its reader. */
function ndjson(entries: AsyncIterable<LogEntry> | Iterable<LogEntry>, abort: AbortController): ReadableStream<Uint8Array> {
  const iterator = (async function* () {
    yield* entries;
  })();
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await iterator.next().catch(() => ({ done: true as const, value: undefined }));
        if (next.done) {
          controller.close();
          return;
        }
        controller.enqueue(encoder.encode(JSON.stringify(next.value) + "\n"));
      },
      async cancel() {
        abort.abort();
        await iterator.return(undefined);
      },
    },
    { highWaterMark: 0 },
  );
}
