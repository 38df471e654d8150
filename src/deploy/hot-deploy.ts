import { rmSync } from "node:fs";
import type { UpgradePackage } from "../builder/types.ts";
import type { Logger } from "../lib/logger.ts";
import type { Replica, Runner } from "../runner/types.ts";
import type { App, Release, State, User } from "../state/index.ts";
import { DeployError } from "./errors.ts";
import { installOnReplicas, restoreReplicas } from "./hot.ts";
import { type BuiltSlug, recordBuild } from "./record-build.ts";

/**
 * The pipeline's side of a hot upgrade (`git push -o hot`): which replicas it
 * goes into, and the order of recording, installing and, on any failure,
 * putting every node back. What happens inside a node is hot.ts; the build
 * side is src/builder (driver.sh's hot_upgrade, hot/relup.escript).
 */

export interface HotDeps {
  state: State;
  runner: Runner;
  logger: Logger;
  logs?: { platform(app: string, line: string): void };
}

export interface HotTarget {
  current: Release;
  replicas: Replica[];
}

/** The serving release and its replicas, when a hot upgrade can go into them; else why not (before anything is built). */
export async function hotTargets(deps: Pick<HotDeps, "state" | "runner">, app: App): Promise<HotTarget> {
  const { state, runner } = deps;
  const current = state.releases.current(app.id);
  if (!current?.slug) throw new DeployError(`${app.name} runs nothing to upgrade: push without -o hot first`);
  const serving = state.releases.lineage(app.id, current.version);
  const replicas = (await runner.list(app.name)).filter((r) => serving.has(r.release));
  const formation = state.formation.for(app.id, Object.keys(current.processTypes));
  for (const [type, f] of Object.entries(formation)) {
    for (let index = 1; index <= f.count; index++) {
      const r = replicas.find((x) => x.process === type && x.index === index);
      if (!r || r.state !== "running") throw new DeployError(`${type}.${index} is not running, so it cannot be upgraded in place: wait for it, or push without -o hot`);
    }
  }
  const running = replicas.filter((r) => r.state === "running");
  if (running.length === 0) throw new DeployError(`${app.name} has no running replica to upgrade (scaled to 0): push without -o hot`);
  return { current, replicas: running };
}

/**
 * Installs a hot upgrade into every running replica at once (see hot.ts). All
 * of them upgraded: the new release is recorded as serving, its slug the one
 * new containers get. Any of them failed, or anything else went wrong once the
 * release was recorded: every replica is put back on the old version, the
 * release is marked failed, and the push reports which and why.
 */
export async function hotUpgrade(
  deps: HotDeps,
  input: {
    app: App;
    user: User | null;
    sha: string;
    target: HotTarget;
    built: BuiltSlug & { upgrade: UpgradePackage };
    /** The release phase of the recorded release, before anything is installed; throws to fail it. */
    releasePhase?: (release: Release) => Promise<void>;
  },
  report: { out: (line: string) => void; buildLog: { release(version: number): void } | undefined },
): Promise<void> {
  const { state, runner } = deps;
  const { app, user, sha, built } = input;
  const { current, replicas } = input.target;
  const { upgrade } = built;
  const out = report.out;
  let release: Release | null = null;
  let settled = false;
  try {
    if (!sameProcessTypes(built.processTypes, current.processTypes)) {
      throw new DeployError("the process types changed (Procfile): that needs new containers, so push without -o hot");
    }
    const config = state.releases.config(app.id, app.name, current.version) ?? {};
    release = recordBuild(state, { app, user, sha, built, config }, {
      summary: `Hot upgrade ${sha.slice(0, 7)} (${upgrade.from} to ${upgrade.to})`,
      activity: (v) => `Hot upgrade ${sha.slice(0, 7)} to ${upgrade.to} (v${v})`,
      hotFrom: current.version,
    });
    report.buildLog?.release(release.version);
    if (input.releasePhase) {
      try {
        await input.releasePhase(release);
      } catch (err) {
        // Nothing was installed yet: the nodes run the old version untouched.
        state.releases.setStatus(app.id, release.version, "failed");
        settled = true;
        throw err;
      }
    }
    out(`-----> Hot upgrade v${release.version}: installing ${upgrade.name} ${upgrade.to} over ${upgrade.from} on ${replicas.map(replicaName).join(", ")}`);
    const began = performance.now();
    const failed = (await installOnReplicas(runner, replicas, upgrade)).filter((r) => r.error !== null);
    if (failed.length === 0) {
      state.releases.setStatus(app.id, release.version, "succeeded");
      settled = true;
      const ms = Math.round(performance.now() - began);
      out(`-----> ${app.name} v${release.version} (${upgrade.to}) is live on ${plural(replicas.length)}, upgraded in place in ${(ms / 1000).toFixed(2)} s`);
      deps.logger.info("deploy.hot_upgraded", { app: app.name, version: release.version, from: upgrade.from, to: upgrade.to, replicas: replicas.length, ms });
      deps.logs?.platform(app.name, `Release v${release.version} (${release.summary}) is live, upgraded in place`);
      return;
    }
    for (const f of failed) out(` !     ${replicaName(f.replica)}: the upgrade failed: ${f.error}`);
    out(`-----> Putting every replica back on ${upgrade.from}`);
    const stuck = await restoreHot(deps, app, release, replicas, upgrade);
    settled = true;
    for (const s of stuck) out(` !     ${replicaName(s.replica)} could not be put back on ${upgrade.from}: ${s.error}`);
    deps.logs?.platform(app.name, `Release v${release.version} (hot upgrade to ${upgrade.to}) failed on ${failed.map((f) => replicaName(f.replica)).join(", ")}; back on ${upgrade.from}`);
    const back = stuck.length === 0 ? `every replica is back on ${upgrade.from}` : `${stuck.length} could not be put back: restart them with ps:restart`;
    throw new DeployError(`the hot upgrade to ${upgrade.to} failed on ${failed.length} of ${plural(replicas.length)}; ${back}`);
  } catch (err) {
    // Whatever went wrong once the release was recorded (the pushing client gone, say),
    // the nodes go back to the old version and the release is marked failed: never a
    // pending row over upgraded nodes.
    if (release && !settled) await restoreHot(deps, app, release, replicas, upgrade);
    throw err;
  } finally {
    rmSync(upgrade.path, { force: true });
  }
}

/** Puts every replica back on the old version and marks the hot release failed; returns the replicas that could not be. */
async function restoreHot(deps: HotDeps, app: App, release: Release, replicas: Replica[], upgrade: UpgradePackage) {
  const stuck = await restoreReplicas(deps.runner, replicas, upgrade);
  deps.state.releases.setStatus(app.id, release.version, "failed");
  if (stuck.length > 0) deps.logger.warn("deploy.hot_restore_failed", { app: app.name, version: release.version, replicas: stuck.map((s) => replicaName(s.replica)).join(" ") });
  return stuck;
}

/** Process types are the same map whatever the order of the Procfile's lines. */
function sameProcessTypes(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

const replicaName = (r: Replica) => `${r.process}.${r.index}`;
const plural = (n: number) => `${n} replica${n > 1 ? "s" : ""}`;
