import { BeamstalkError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import type { Runner } from "../runner/types.ts";
import { type ProcessFormation, SIZE_MAX, SIZE_MIN } from "../state/formation.ts";
import type { App, Release, State, User } from "../state/index.ts";
import { nodeProbe } from "./beam.ts";
import { waitHealthy } from "./health.ts";
import { APP_PORT } from "./env.ts";
import { type RolloutPlan, type RouteTarget, rollout } from "./rollout.ts";

export interface ScaleChange {
  count?: number;
  size?: number;
}

export const MAX_REPLICAS = 100;

/** Validates a scale request against the serving release; returns the whole new formation. */
export function checkScale(release: Release, current: Record<string, ProcessFormation>, changes: Record<string, ScaleChange>): Record<string, ProcessFormation> {
  const types = Object.keys(release.processTypes);
  const next = structuredClone(current);
  if (Object.keys(changes).length === 0) throw new BeamstalkError("bad_request", "nothing to scale", "give --replicas N and/or --size S");
  for (const [type, change] of Object.entries(changes)) {
    if (!types.includes(type)) {
      throw new BeamstalkError("bad_request", `v${release.version} has no process type ${JSON.stringify(type)}`, `its process types: ${types.join(", ") || "none"}`);
    }
    if (change.count !== undefined && (!Number.isInteger(change.count) || change.count < 0 || change.count > MAX_REPLICAS)) {
      throw new BeamstalkError("bad_request", `replicas must be a whole number from 0 to ${MAX_REPLICAS}`);
    }
    if (change.size !== undefined) {
      const tenths = Math.round(change.size * 10);
      if (!Number.isFinite(change.size) || change.size < SIZE_MIN || change.size > SIZE_MAX || Math.abs(tenths - change.size * 10) > 1e-9) {
        throw new BeamstalkError("bad_request", `size must be ${SIZE_MIN} to ${SIZE_MAX} in steps of 0.1`, "1 size = 1 GiB memory and 0.2 CPU");
      }
    }
    next[type] = { count: change.count ?? next[type]!.count, size: change.size !== undefined ? Math.round(change.size * 10) / 10 : next[type]!.size };
  }
  return next;
}

export interface ScaleDeps {
  state: State;
  runner: Runner;
  router: RouteTarget;
  logger: Logger;
}

/**
 * Applies a new formation. A size change replaces the replicas of the serving
 * release through a full zero-downtime rollout. A count change only adds the
 * missing replicas (health-checked before they take traffic) or retires the
 * highest-numbered ones (out of the route first, drained, then stopped); scaling
 * to 0 stops everything of that type.
 */
export async function applyScale(
  deps: ScaleDeps,
  app: App,
  user: User,
  plan: RolloutPlan,
  next: Record<string, ProcessFormation>,
  out: (line: string) => void,
): Promise<void> {
  const before = plan.formation ?? {};
  const resized = Object.keys(next).some((t) => before[t] && before[t]!.size !== next[t]!.size && next[t]!.count > 0);
  deps.state.transaction(() => {
    for (const [type, f] of Object.entries(next)) deps.state.formation.set(app.id, type, f);
    deps.state.activity.record(app.id, user.id, "scale", Object.entries(next).map(([t, f]) => `${t}=${f.count}:${f.size}`).join(" "));
  });
  const wanted = { ...plan, formation: next };
  if (resized) {
    const { retired } = await rollout(deps, wanted, out);
    await retired;
    return;
  }
  const serving = deps.state.releases.lineage(app.id, plan.release); // hot-upgraded replicas keep an older label
  const existing = (await deps.runner.list(app.name)).filter((r) => serving.has(r.release));
  const started = [];
  for (const [type, { count, size }] of Object.entries(next)) {
    const command = plan.processTypes[type]!;
    const have = new Set(existing.filter((r) => r.process === type).map((r) => r.index));
    for (let index = 1; index <= count; index++) {
      if (have.has(index)) continue;
      out(`starting ${type}.${index}`);
      started.push(
        await deps.runner.start({
          app: app.name,
          release: plan.release,
          process: type,
          index,
          image: plan.image,
          command,
          slugPath: plan.slugPath,
          ...(plan.slugUrl ? { slugUrl: plan.slugUrl } : {}),
          env: plan.env,
          port: APP_PORT,
          size,
        }),
      );
    }
  }
  try {
    for (const r of started.filter((r) => r.process === "web")) {
      const problem = await waitHealthy({ host: r.address.host, port: r.address.port, ...(plan.health.path ? { path: plan.health.path } : {}), timeoutMs: plan.health.timeoutMs, ...(plan.health.rpc ? { node: nodeProbe(deps.runner, r.id) } : {}) });
      if (problem) throw new BeamstalkError("deploy_failed", `web.${r.index} did not become healthy: ${problem}`, "the replicas that were running keep serving");
    }
  } catch (err) {
    await Promise.all(started.map((r) => deps.runner.stop(r.id, 5).catch(() => {})));
    throw err;
  }
  await Promise.all(started.map((r) => deps.runner.settle(r.id)));
  const extra = existing.filter((r) => r.index > (next[r.process]?.count ?? 0));
  const keep = [...existing.filter((r) => !extra.includes(r)), ...started];
  deps.router.setRoute(app.name, plan.hostnames, keep.filter((r) => r.process === "web" && r.state !== "exited").map((r) => r.address));
  if (extra.length > 0) {
    out(`stopping ${extra.map((r) => `${r.process}.${r.index}`).join(", ")}`);
    await deps.router.drain(extra.map((r) => r.address), plan.drainMs);
    await Promise.all(extra.map((r) => deps.runner.stop(r.id, 30)));
  }
}
