import { exec } from "../lib/exec.ts";
import type { Logger } from "../lib/logger.ts";
import type { Release } from "../state/releases.ts";
import type { App, State } from "../state/index.ts";
import type { Replica, Runner } from "../runner/types.ts";

export interface ReconcileDeps {
  state: State;
  runner: Runner;
  logger: Logger;
  /** Rolls a release out (the deployer's config-change path: it has its slug already). */
  redeploy(app: App, release: Release, out: (line: string) => void): Promise<Release>;
  /** A line in the app's log (platform source). */
  platform(app: string, line: string): void;
  /** The backends ("host:port") the app's route holds now. */
  routed(app: string): Set<string>;
  /** Runs fn in the app's deploy queue, so no push or scale moves replicas meanwhile. */
  exclusive<T>(app: App, fn: () => Promise<T>): Promise<T>;
}

export interface Reconciled {
  /** One-off job and build containers of this server's apps that no client waits for any more. */
  orphans: number;
  /** Releases left pending: the newest rolled out again, older ones failed. */
  finished: string[];
  superseded: string[];
  /** Replicas of no release in the current one's lineage, stopped. */
  strays: number;
}

/** Labels of what runs for a client on this host: one-off jobs (src/runner/docker/job-spec.ts) and builds (src/builder/container.ts). */
const ORPHAN_FILTERS = ["label=beamstalk.job=true", "label=beamstalk.role=build"];

/**
 * After a crash (a cold boot, not a takeover: a successor's predecessor still
 * runs its jobs), nothing is left half-done:
 * - a one-off job or a build still running has no client any more (the
 *   daemon that streamed it died): it is removed, and a build records nothing;
 * - a release left `pending` (a deploy, config change or hot install cut off
 *   mid-rollout) is rolled out again from its slug, which either finishes it
 *   or fails it with what served before still serving; older pending ones are
 *   marked failed;
 * - a replica of no release in the current one's lineage (an old release a
 *   rollout had not stopped yet, or a new one whose rollout failed) is stopped.
 * Each step says what it did in the log and in the app's activity.
 */
export async function reconcileAfterCrash(deps: ReconcileDeps): Promise<Reconciled> {
  const { state, logger } = deps;
  const done: Reconciled = { orphans: 0, finished: [], superseded: [], strays: 0 };
  const apps = new Map(state.apps.all().map((a) => [a.name, a]));

  for (const filter of ORPHAN_FILTERS) {
    const listed = await exec(["docker", "ps", "-a", "--filter", filter, "--format", '{{.ID}} {{.Label "beamstalk.app"}} {{.Label "beamstalk.role"}}']);
    for (const line of listed.stdout.split("\n").filter(Boolean)) {
      const [id, appName, role] = line.split(" ");
      const app = apps.get(appName ?? "");
      // Another installation's (or another test daemon's) containers are not ours to judge.
      if (!id || !app) continue;
      const removed = await exec(["docker", "rm", "--force", "--", id]);
      if (removed.code !== 0) {
        logger.warn("reconcile.orphan_remove_failed", { app: app.name, id, error: removed.stderr.trim().slice(0, 200) });
        continue;
      }
      done.orphans++;
      const what = role === "build" ? "a build" : "a one-off job";
      logger.info("reconcile.orphan_removed", { app: app.name, id: id.slice(0, 12), kind: role === "build" ? "build" : "job" });
      state.activity.record(app.id, null, "reconcile.orphan", `Removed ${what} left running when the daemon stopped`);
      deps.platform(app.name, `removed ${what} left running when the daemon stopped`);
    }
  }

  for (const app of apps.values()) {
    const pending = state.releases.list(app.id, 1000).filter((r) => r.status === "pending");
    const [newest, ...older] = pending;
    for (const r of older) {
      state.releases.setStatus(app.id, r.version, "failed");
      done.superseded.push(`${app.name} v${r.version}`);
      state.activity.record(app.id, null, "reconcile.release", `v${r.version} was left pending when the daemon stopped, behind v${newest!.version}: marked failed`);
    }
    if (newest) {
      logger.info("reconcile.release_pending", { app: app.name, version: newest.version });
      state.activity.record(app.id, null, "reconcile.release", `v${newest.version} was left pending when the daemon stopped: rolling it out again`);
      deps.platform(app.name, `v${newest.version} was left pending when the daemon stopped: rolling it out again`);
      try {
        const out = await deps.redeploy(app, newest, (line) => deps.platform(app.name, line));
        done.finished.push(`${app.name} v${out.version}`);
        state.activity.record(app.id, null, "reconcile.release", `v${out.version} is live: its rollout finished after the daemon restarted`);
      } catch (err) {
        const current = state.releases.current(app.id);
        logger.warn("reconcile.release_failed", { app: app.name, version: newest.version, error: (err as Error).message });
        state.activity.record(app.id, null, "reconcile.release", `v${newest.version} could not be finished (${(err as Error).message.slice(0, 200)}); ${current ? `v${current.version}` : "nothing"} serves`);
      }
    }
    done.strays += await stopStrays(deps, app);
  }
  const gone = state.revivals.keepOnly(new Set((await deps.runner.list().catch(() => null))?.map((r) => r.id) ?? state.revivals.ids()));
  if (done.orphans || done.finished.length || done.superseded.length || done.strays || gone) logger.info("reconcile.done", { orphans: done.orphans, finished: done.finished.join(",") || "-", superseded: done.superseded.join(",") || "-", strays: done.strays, forgotten_restart_counts: gone });
  return done;
}

async function stopStrays(deps: ReconcileDeps, app: App): Promise<number> {
  return deps.exclusive(app, async () => {
    const current = deps.state.releases.current(app.id);
    if (!current) return 0;
    const strays = pickStrays(await deps.runner.list(app.name), {
      lineage: deps.state.releases.lineage(app.id, current.version),
      formation: deps.state.formation.for(app.id, Object.keys(current.processTypes)),
      routed: deps.routed(app.name),
    });
    for (const r of strays) {
      await deps.runner.stop(r.id, 10).catch((err) => deps.logger.warn("reconcile.stray_stop_failed", { app: app.name, id: r.id, error: (err as Error).message }));
      deps.logger.info("reconcile.stray_stopped", { app: app.name, replica: `${r.process}.${r.index}`, release: r.release });
    }
    if (strays.length) deps.state.activity.record(app.id, null, "reconcile.strays", `Stopped ${strays.length} replica${strays.length > 1 ? "s" : ""} (v${[...new Set(strays.map((r) => r.release))].join(", v")}) that the formation does not want, left when the daemon stopped`);
    return strays.length;
  });
}

/**
 * What the formation does not want: replicas of no release in the current
 * one's lineage, indexes past the formation's count, and the extra ones of an
 * index held twice (a rollout cut off after it created a replica: the one the
 * route holds stays, else the one started last).
 */
export function pickStrays(replicas: Replica[], o: { lineage: Set<number>; formation: Record<string, { count: number }>; routed: Set<string> }): Replica[] {
  const groups = new Map<string, Replica[]>();
  for (const r of replicas) {
    if (!o.lineage.has(r.release) || r.index > (o.formation[r.process]?.count ?? 0)) continue;
    const key = `${r.process}.${r.index}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const keep = new Set<string>();
  for (const group of groups.values()) {
    const byStart = [...group].sort((a, b) => (b.startedAt ?? "").localeCompare(a.startedAt ?? ""));
    keep.add((group.find((r) => o.routed.has(`${r.address.host}:${r.address.port}`)) ?? byStart[0]!).id);
  }
  return replicas.filter((r) => !keep.has(r.id));
}
