import { Hono } from "hono";
import { BeamstalkError, badRequest } from "../lib/errors.ts";
import type { CronStatus } from "../deploy/cron.ts";
import type { CronRun } from "../state/cron-runs.ts";
import type { App, User } from "../state/index.ts";
import { requireUser } from "./auth.ts";
import { type ApiDeps, type Env, appFor } from "./context.ts";

/** What the API asks of the cron scheduler (src/deploy/cron.ts's CronScheduler). */
export interface CronActions {
  entries(app: App): CronStatus[];
  runNow(app: App, id: string, user: User): Promise<CronRun>;
}

const ENTRY_ID = /^[0-9a-f]{8}$/;

/** app.json's cron entries, mounted at /api/apps/:app/cron: list (viewers too) and run one now (collaborators). */
export function cronRoutes(deps: ApiDeps) {
  const r = new Hono<Env>();
  r.use(requireUser(deps));

  r.get("/", (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "read");
    return c.json(cronOf(deps).entries(app).map(entryJson));
  });

  r.post("/:id/run", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    const id = c.req.param("id");
    if (!ENTRY_ID.test(id)) throw badRequest(`${JSON.stringify(id.slice(0, 20))} is not a cron entry id`, "`beamstalk cron` lists the ids");
    const run = await cronOf(deps).runNow(app, id, c.var.user);
    deps.logger.info("cron.run_now", { app: app.name, user: c.var.user.email, entry: id });
    return c.json(runJson(run), 202);
  });

  return r;
}

function cronOf(deps: ApiDeps): CronActions {
  if (!deps.cron) throw new BeamstalkError("unreachable", "scheduled jobs are not available on this server");
  return deps.cron;
}

function entryJson(e: CronStatus) {
  return {
    id: e.id,
    schedule: e.schedule,
    command: e.command,
    release: e.release,
    running: e.running,
    last_run: e.lastRun ? runJson(e.lastRun) : null,
    skipped_since_last_run: e.skippedSince,
    next_run: e.nextRun,
  };
}

export function runJson(run: CronRun) {
  return {
    id: run.id,
    entry: run.entry,
    release: run.release,
    trigger: run.trigger,
    status: run.status,
    exit_code: run.exitCode,
    detail: run.detail,
    started_at: run.startedAt,
    finished_at: run.finishedAt,
  };
}
