import type { Logger } from "../lib/logger.ts";
import type { Secret } from "../lib/secret.ts";
import type { Replica, Runner, SlugUrl } from "../runner/types.ts";
import { APP_PORT } from "./env.ts";
import { nodeProbe } from "./beam.ts";
import { waitChecks, waitHealthy } from "./health.ts";
import type { HealthCheckSpec } from "../lib/app-manifest.ts";

export interface Backend {
  host: string;
  port: number;
}

/** The part of the router a rollout uses. */
export interface RouteTarget {
  setRoute(app: string, hostnames: string[], backends: Backend[]): void;
  drain(backends: Backend[], timeoutMs: number): Promise<{ drained: boolean; inFlight: number }>;
}

export interface RolloutPlan {
  app: string;
  release: number;
  image: string;
  slugPath: string;
  /** Set when the runner delivers slugs by URL (see slug-source.ts). */
  slugUrl?: SlugUrl;
  processTypes: Record<string, string>;
  /** Replicas per process type; web defaults to 1, others to 0 (as on Heroku). */
  formation?: Record<string, { count: number; size: number }>;
  env: Record<string, string | Secret>;
  hostnames: string[];
  /** rpc: the node must answer an rpc too (see beam.ts rpcHealthCheck). */
  health: { path?: string; timeoutMs: number; rpc: boolean; checks?: HealthCheckSpec[] };
  drainMs: number;
}

export class RolloutError extends Error {
  override name = "RolloutError";
}

export function defaultFormation(processTypes: Record<string, string>): Record<string, { count: number; size: number }> {
  return Object.fromEntries(Object.keys(processTypes).map((type) => [type, { count: type === "web" ? 1 : 0, size: 1 }]));
}

/**
 * Zero-downtime rollout: start the new replicas, wait until every web replica
 * is healthy (its port answers and, for an Elixir release, its node answers an
 * rpc; bounded), switch the router, let the old replicas drain, stop
 * them. If the new release never becomes healthy, its replicas are removed and
 * the old ones keep serving, untouched.
 */
export async function rollout(
  deps: { runner: Runner; router: RouteTarget; logger: Logger },
  plan: RolloutPlan,
  out: (line: string) => void,
  /** Called right before the router switches: the release becomes the serving one. */
  commit: () => void = () => {},
): Promise<{ replicas: Replica[]; retired: Promise<void> }> {
  const { runner, router } = deps;
  const t0 = performance.now();
  const at = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
  const formation = plan.formation ?? defaultFormation(plan.processTypes);
  await runner.ensureNetwork(plan.app);
  // Everything running before this rollout is replaced by it (a restart or resize rolls the same release).
  const old = await runner.list(plan.app);
  const started: Replica[] = [];
  try {
    const wanted = Object.entries(formation).flatMap(([type, { count, size }]) => {
      const command = plan.processTypes[type];
      return command ? Array.from({ length: count }, (_, i) => ({ type, index: i + 1, command, size })) : [];
    });
    out(`starting ${wanted.map((w) => `${w.type}.${w.index}`).join(", ") || "no replicas"} of v${plan.release}`);
    const results = await Promise.allSettled(
      wanted.map((w) =>
        runner.start({
          app: plan.app,
          release: plan.release,
          process: w.type,
          index: w.index,
          image: plan.image,
          command: w.command,
          slugPath: plan.slugPath,
          ...(plan.slugUrl ? { slugUrl: plan.slugUrl } : {}),
          env: plan.env,
          port: APP_PORT,
          size: w.size,
        }),
      ),
    );
    for (const r of results) if (r.status === "fulfilled") started.push(r.value);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw new RolloutError(`a replica did not start: ${(failed.reason as Error).message}`);
    out(`started in ${at()}`);
    const web = started.filter((r) => r.process === "web");
    await Promise.all(
      web.map(async (replica) => {
        const alive = async () => (await runner.list(plan.app)).some((r) => r.id === replica.id && r.state !== "exited");
        // app.json health checks replace the default one (port, then the node's rpc).
        const problem = plan.health.checks
          ? await waitChecks({ host: replica.address.host, port: replica.address.port, checks: plan.health.checks, alive, say: (line) => out(`${replica.process}.${replica.index}: ${line}`) })
          : await waitHealthy({
          host: replica.address.host,
          port: replica.address.port,
          ...(plan.health.path ? { path: plan.health.path } : {}),
          timeoutMs: plan.health.timeoutMs,
          alive,
          // A release's node must answer an rpc too, within the same bound.
          ...(plan.health.rpc ? { node: nodeProbe(runner, replica.id) } : {}),
        });
        if (problem) throw new RolloutError(`${replica.process}.${replica.index} did not become healthy: ${problem}`);
        out(`${replica.process}.${replica.index} is healthy (${at()})`);
      }),
    );
    // Replicas boot with a burst of CPU; from here on they run within their size.
    await Promise.all(started.map((r) => runner.settle(r.id)));
    commit();
    router.setRoute(plan.app, plan.hostnames, web.map((r) => r.address));
  } catch (err) {
    await Promise.all(started.map((r) => runner.stop(r.id, 5).catch(() => {})));
    throw err;
  }
  return { replicas: started, retired: retire(deps, plan, old, out) };
}

/** The new release serves; the old replicas finish their in-flight requests, then stop. */
async function retire(deps: { runner: Runner; router: RouteTarget; logger: Logger }, plan: RolloutPlan, old: Replica[], out: (line: string) => void): Promise<void> {
  if (old.length === 0) return;
  out(`draining ${old.length} replica${old.length > 1 ? "s" : ""} of the previous release`);
  const drained = await deps.router.drain(old.map((r) => r.address), plan.drainMs);
  if (!drained.drained) deps.logger.warn("deploy.drain_timeout", { app: plan.app, in_flight: drained.inFlight });
  await Promise.all(old.map((r) => deps.runner.stop(r.id, 30).catch((e) => deps.logger.warn("deploy.stop_failed", { id: r.id, error: String(e) }))));
}
