import { Hono } from "hono";
import { BeamstalkError, badRequest } from "../lib/errors.ts";
import type { ScaleChange } from "../deploy/scale.ts";
import { requireUser } from "./auth.ts";
import { runJson } from "./cron.ts";
import { type ApiDeps, type Env, appFor, readJson } from "./context.ts";
import type { App } from "../state/index.ts";
import { REPLICA_NAME } from "../lib/validate.ts";

/** Processes: ps, scale, restart, kill. Engine failures come back as deploy_failed with the running replicas untouched. */
export function psRoutes(deps: ApiDeps) {
  const r = new Hono<Env>();
  r.use(requireUser(deps));

  const engine = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      if (err instanceof BeamstalkError) throw err;
      throw new BeamstalkError("deploy_failed", (err as Error).message, "the replicas that were running keep serving; `beamstalk ps` shows them");
    }
  };

  r.get("/", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "read");
    const ps = await engine(() => deps.deploy.processes(app));
    return c.json({
      release: ps.release,
      formation: ps.formation,
      replicas: ps.replicas.map((x) => ({
        name: x.name,
        process: x.process,
        release: x.release,
        state: x.state,
        size: x.size,
        started_at: x.startedAt,
        uptime_seconds: x.uptimeSeconds,
        restarts: x.restarts,
        memory_bytes: x.memoryBytes,
        memory_limit_bytes: x.memoryLimitBytes,
        cpu_percent: x.cpuPercent,
        node: x.node,
        connected_nodes: x.connectedNodes,
      })),
      // app.json cron entries whose last run failed (a failed run shows here until one succeeds).
      cron_failures: [...deps.state.cronRuns.latest(app.id).values()]
        .filter(({ run }) => run.status === "failed" && cronIds(deps, app).has(run.entry))
        .map(({ run }) => runJson(run)),
    });
  });

  /** Body: `{"process": "web", "replicas": 3, "size": 2}` (process defaults to web). */
  r.post("/scale", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    const body = await readJson(c);
    const process = body.process ?? "web";
    if (typeof process !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_-]{0,29}$/.test(process)) throw badRequest("process must be a process type such as web");
    const change: ScaleChange = {};
    if (body.replicas !== undefined) {
      if (typeof body.replicas !== "number") throw badRequest("replicas must be a number");
      change.count = body.replicas;
    }
    if (body.size !== undefined) {
      if (typeof body.size !== "number") throw badRequest("size must be a number");
      change.size = body.size;
    }
    if (change.count === undefined && change.size === undefined) throw badRequest("nothing to scale", "give replicas and/or size");
    const formation = await engine(() => deps.deploy.scale(app, c.var.user, { [process]: change }));
    deps.logger.info("ps.scale", { app: app.name, user: c.var.user.email, process, replicas: change.count, size: change.size });
    return c.json({ formation });
  });

  r.post("/restart", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    await engine(() => deps.deploy.restart(app, c.var.user));
    deps.logger.info("ps.restart", { app: app.name, user: c.var.user.email });
    return c.body(null, 204);
  });

  /** Body: `{"replica": "web.1"}`. The replica dies as in a crash and comes back as a crashed one does. */
  r.post("/kill", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    const { replica } = await readJson(c);
    if (typeof replica !== "string" || !REPLICA_NAME.test(replica)) throw badRequest("replica must be a replica name such as web.1", "`beamstalk ps` lists them");
    await engine(() => deps.deploy.kill(app, c.var.user, replica));
    deps.logger.info("ps.kill", { app: app.name, user: c.var.user.email, replica });
    return c.body(null, 204);
  });

  return r;
}

/** The cron entries of the app's serving release. */
function cronIds(deps: ApiDeps, app: App): Set<string> {
  return new Set((deps.state.releases.current(app.id)?.manifest.cron ?? []).map((e) => e.id));
}
