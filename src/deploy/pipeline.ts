import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../lib/logger.ts";
import type { Runner } from "../runner/types.ts";
import { BuildError } from "../builder/types.ts";
import { DeployError } from "./errors.ts";
import { hotTargets, hotUpgrade } from "./hot-deploy.ts";
import { killReplica } from "./kill.ts";
import { recordBuild } from "./record-build.ts";
import { runPostdeploy, runReleasePhase } from "./release-phase.ts";
import { redactor } from "../builder/env-dir.ts";
import type { App, Release, State, User } from "../state/index.ts";
import { AppQueue } from "./app-queue.ts";
import { checkout } from "./checkout.ts";
import { findRelease, nodeInfo, rpcHealthCheck } from "./beam.ts";
import { replicaEnv } from "./env.ts";
import { slugSource } from "./slug-source.ts";
import type { ProcessFormation } from "../state/formation.ts";
import { type Backend, type RolloutPlan, type RouteTarget, rollout } from "./rollout.ts";
import { type ScaleChange, applyScale, checkScale } from "./scale.ts";
import { type BuildSlug, DEFAULT_DEPLOY_SETTINGS, type DeploySettings, type PushRequest } from "./types.ts";

export interface DeployerDeps {
  state: State;
  runner: Runner;
  router: RouteTarget & { removeRoute(app: string): void };
  build: BuildSlug;
  /** Resolves once the stack images exist (built at first start when missing). */
  stackReady: () => Promise<{ runImage: string }>;
  paths: { repos: string; slugs: string; cache: string; tmp: string };
  logger: Logger;
  baseDomain?: string;
  /** The base URL replicas reach the controller at, for a runner that delivers slugs by URL. */
  controllerUrl?: () => string;
  settings?: Partial<DeploySettings>;
  /** Restarts the supervisor did, per replica id (the engine counts its own). */
  revivals?: (id: string) => number;
  /** Keeps each build's output: the app log (source build) and, once it has a release, builds/v<N>.log; platform lines for what the pipeline did. */
  logs?: { startBuild(app: string): BuildLog; platform(app: string, line: string): void; job?(app: string, name: string, line: string): void };
}

export interface BuildLog {
  line(text: string): void;
  release(version: number): void;
  close(): void;
}

export interface ProcessList {
  release: number | null;
  formation: Record<string, ProcessFormation>;
  replicas: {
    name: string;
    process: string;
    index: number;
    release: number;
    state: string;
    size: number;
    startedAt: string | null;
    uptimeSeconds: number | null;
    restarts: number;
    memoryBytes: number | null;
    memoryLimitBytes: number | null;
    cpuPercent: number | null;
    /** `<app>@<ip>`: the node's own answer, else what the boot script names it. Null when not running. */
    node: string | null;
    /** The nodes it is connected to (Node.list(), sorted); null when its node did not answer in time. */
    connectedNodes: string[] | null;
  }[];
}

/** Where a rollout's release phase reports: `kept` when a build log already keeps what `out` gets (a push). */
interface PhaseReport {
  out: (line: string) => void;
  kept: boolean;
}

/** How long `ps` waits for the nodes' answers (all asked at once). */
export const PS_NODES_TIMEOUT_MS = 10_000;

const DEPLOY_BRANCHES = ["refs/heads/main", "refs/heads/master"];

/** A failed build's last lines were streamed already: only its reason is repeated. */
function failureReason(err: unknown): string {
  return err instanceof BuildError ? err.message.split("\n")[0]! : err instanceof Error ? err.message : String(err);
}
const ZERO = "0".repeat(40);

/**
 * The one place that knows the order: push → checkout → build → release →
 * roll out → route, and what happens when a step fails (the push is rejected,
 * the release is marked failed, what was serving keeps serving).
 */
export class Deployer {
  readonly #queue = new AppQueue();
  readonly #settings: DeploySettings;

  constructor(private readonly deps: DeployerDeps) {
    this.#settings = { ...DEFAULT_DEPLOY_SETTINGS, ...deps.settings };
  }

  /** Runs fn in the app's queue, behind any push, rollback, restart or scale (the boot's reconciliation). */
  exclusive<T>(app: App, fn: () => Promise<T>): Promise<T> {
    return this.#queue.run(app.name, fn);
  }

  /** Apps with a push, rollback, restart or scale running or queued (an upgrade of the daemon waits for none). */
  busyApps(): string[] {
    return this.#queue.busyApps();
  }

  /** Handles a push from the pre-receive hook; returns the hook's exit code (non-zero rejects the push). */
  async push(req: PushRequest, out: (line: string) => void): Promise<number> {
    const { state } = this.deps;
    const app = state.apps.byName(req.app);
    if (!app) {
      out(`!     app ${req.app} not found`);
      return 1;
    }
    const deploys = req.refs.filter((r) => DEPLOY_BRANCHES.includes(r.ref));
    for (const r of req.refs.filter((r) => !DEPLOY_BRANCHES.includes(r.ref))) {
      out(`${r.ref}: accepted, not deployed (only main or master deploys)`);
    }
    if (deploys.some((r) => r.new === ZERO)) {
      out("!     deleting the deployed branch is not allowed");
      return 1;
    }
    const target = deploys.find((r) => r.ref === "refs/heads/main") ?? deploys[0];
    if (!target) return 0;
    const user = req.userId === null ? null : state.users.byId(req.userId);
    const clean = req.clean || req.pushOptions.includes("clean");
    const hot = req.hot || req.pushOptions.includes("hot");
    try {
      await this.#queue.run(app.name, () => this.#buildAndDeploy(app, user, target.new, req, { clean, hot }, out), () =>
        out(`another deploy of ${app.name} is running: waiting for it to finish`),
      );
      return 0;
    } catch (err) {
      const message = failureReason(err);
      out(`!     ${message}`);
      out("!     push rejected; the running release was not changed");
      this.deps.logger.warn("deploy.failed", { app: app.name, sha: target.new.slice(0, 7), error: message });
      return 1;
    }
  }

  async #buildAndDeploy(app: App, user: User | null, sha: string, req: PushRequest, mode: { clean: boolean; hot: boolean }, push: (line: string) => void): Promise<void> {
    const { state, paths } = this.deps;
    const buildLog = this.deps.logs?.startBuild(app.name);
    const out = (line: string) => {
      push(line);
      buildLog?.line(line);
    };
    const started = performance.now();
    // A hot upgrade goes into the replicas that run now: all of them must be up before anything is built.
    const hot = mode.hot ? await hotTargets(this.deps, app) : null;
    out(`-----> Building ${app.name} from ${sha.slice(0, 7)}${hot ? ` as a hot upgrade of v${hot.current.version}` : ""}`);
    mkdirSync(paths.tmp, { recursive: true, mode: 0o700 });
    const work = mkdtempSync(join(paths.tmp, `build-${app.name}-`));
    try {
      const sourceDir = join(work, "src");
      await checkout({ repoPath: req.repoPath, sha, dest: sourceDir, gitEnv: req.gitEnv, maxBytes: this.#settings.maxSourceBytes, out });
      const cacheDir = join(paths.cache, app.name);
      if (mode.clean) {
        rmSync(cacheDir, { recursive: true, force: true });
        out("-----> Clean build: the build cache was wiped");
      }
      mkdirSync(cacheDir, { recursive: true });
      const slugDir = join(paths.slugs, app.name);
      mkdirSync(slugDir, { recursive: true });
      const { runImage } = await this.deps.stackReady();
      const config = state.config.get(app);
      const buildStarted = performance.now();
      const previousSlug = hot ? join(slugDir, `${hot.current.slug}.tar.gz`) : undefined;
      // Until the build is done, a client that went away cancels it (nothing is recorded); from the release on, the deploy runs to its end.
      if (req.signal?.aborted) throw new BuildError("cancelled", "the push was cancelled: its git client went away");
      const built = await this.deps.build({ app: app.name, sourceDir, cacheDir, env: config, slugDir, onOutput: out, timeoutMs: this.#settings.buildTimeoutMs, ...(previousSlug ? { previousSlug } : {}), ...(req.signal ? { signal: req.signal } : {}) });
      if (hot) {
        if (!built.upgrade) throw new DeployError("the build made no upgrade package");
        const releasePhase = (release: Release) => this.#releasePhase(app, release, this.plan(app, release, runImage), { out, kept: true });
        await hotUpgrade(this.deps, { app, user, sha, target: hot, built: { ...built, upgrade: built.upgrade }, releasePhase }, { out, buildLog });
        out(`       (whole deploy ${((performance.now() - started) / 1000).toFixed(1)} s)`);
        return;
      }
      const release = recordBuild(state, { app, user, sha, built, config }, { summary: `Deploy ${sha.slice(0, 7)}`, activity: (v) => `Deployed ${sha.slice(0, 7)} (v${v})` });
      buildLog?.release(release.version);
      const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(1);
      out(`-----> Built in ${seconds(buildStarted)} s; releasing v${release.version}`);
      this.#adoptFormation(app, release, out);
      const rolloutStarted = performance.now();
      const retired = await this.#rollout(app, release, runImage, { out, kept: true }, () => {
        out(`-----> ${app.name} v${release.version} is live${this.deps.baseDomain ? ` at http://${app.name}.${this.deps.baseDomain}` : ""}`);
        out(`       (rollout ${seconds(rolloutStarted)} s, whole deploy ${seconds(started)} s)`);
      });
      await retired;
    } catch (err) {
      // The saved build output ends with why the release did not go out, as the push does.
      buildLog?.line(`!     ${failureReason(err)}`);
      throw err;
    } finally {
      buildLog?.close();
      rmSync(work, { recursive: true, force: true });
    }
  }

  /**
   * Rolls a recorded release out and marks it succeeded or failed: its release
   * phase first, then the rollout, then (`live` told) its post-deploy script.
   * Resolves once the new release serves, with a promise for the old replicas' retirement.
   */
  async #rollout(app: App, release: Release, runImage: string, report: PhaseReport, live: () => void = () => {}): Promise<Promise<void>> {
    const { out } = report;
    const { state } = this.deps;
    const begun = performance.now();
    const plan = this.plan(app, release, runImage);
    let retired: Promise<void>;
    try {
      await this.#releasePhase(app, release, plan, report);
      ({ retired } = await rollout(this.deps, plan, out, () => state.releases.setStatus(app.id, release.version, "succeeded")));
    } catch (err) {
      state.releases.setStatus(app.id, release.version, "failed");
      this.deps.logs?.platform(app.name, `Release v${release.version} failed to start: ${(err as Error).message}`);
      throw err;
    }
    this.deps.logger.info("deploy.released", { app: app.name, version: release.version, rollout_ms: Math.round(performance.now() - begun) });
    this.deps.logs?.platform(app.name, `Release v${release.version} (${release.summary}) is live`);
    this.#meter(app, release);
    live();
    if (release.manifest.postdeploy) {
      const exit = await runPostdeploy(this.deps, release.manifest.postdeploy, this.#phaseRun(app, release, plan, report, "postdeploy"));
      this.deps.logs?.platform(app.name, `Post-deploy of v${release.version} ${exit === 0 ? "succeeded" : `failed (exit ${exit}); the release stays live`}`);
    }
    return retired;
  }

  /** The release phase of a recorded release (deploy, config change, rollback, hot upgrade), before any of its code serves. */
  #releasePhase(app: App, release: Release, plan: RolloutPlan, report: PhaseReport): Promise<void> {
    return runReleasePhase(this.deps, release.manifest.releasePhase, this.#phaseRun(app, release, plan, report, "release"));
  }

  /**
   * A release-phase or post-deploy run: its time limit, and its output with the
   * release's config values redacted, to the caller and, unless a build log keeps
   * it already, to the app's log as `release.vN` / `postdeploy.vN`.
   */
  #phaseRun(app: App, release: Release, plan: RolloutPlan, report: PhaseReport, name: string) {
    const config = this.deps.state.releases.config(app.id, app.name, release.version) ?? {};
    const redact = redactor(config);
    const out = (line: string) => {
      const safe = redact(line);
      report.out(safe);
      if (!report.kept) this.deps.logs?.job?.(app.name, `${name}.v${release.version}`, safe);
    };
    return { plan, timeoutMs: this.#timeout(config.BEAMSTALK_RELEASE_TIMEOUT, this.#settings.releaseTimeoutMs), out };
  }

  /** Seconds from a config var when it is a positive number, else the default (ms). */
  #timeout(seconds: string | undefined, fallbackMs: number): number {
    const n = Number(seconds);
    return seconds && n > 0 ? n * 1000 : fallbackMs;
  }

  /** app.json formation: for each process type nobody has scaled yet (the first deploy that has it); ps:scale wins later. */
  #adoptFormation(app: App, release: Release, out: (line: string) => void): void {
    const { formation } = this.deps.state;
    const stored = formation.stored(app.id);
    for (const [type, wanted] of Object.entries(release.manifest.formation)) {
      if (stored.has(type) || !(type in release.processTypes)) continue;
      const current = formation.for(app.id, [type])[type]!;
      const next = { count: wanted.count ?? current.count, size: wanted.size ?? current.size };
      formation.set(app.id, type, next);
      out(`-----> app.json formation: ${type} ${next.count} × size ${next.size}`);
    }
  }

  /** Usage follows what runs: one period per process type at its replicas × size (see state/usage.ts). */
  #meter(app: App, release: Release): void {
    const { state } = this.deps;
    for (const [type, f] of Object.entries(state.formation.for(app.id, Object.keys(release.processTypes)))) {
      state.usage.record(app, type, f.count, f.size);
    }
  }

  /** Everything a rollout of this release needs to know, with the app's stored formation. */
  plan(app: App, release: Release, runImage: string): RolloutPlan {
    const { state } = this.deps;
    const slug = slugSource({ runner: this.deps.runner, tokens: state.slugTokens, slugsDir: this.deps.paths.slugs, ...(this.deps.controllerUrl ? { controllerUrl: this.deps.controllerUrl } : {}) }, app, release);
    const config = state.releases.config(app.id, app.name, release.version) ?? {};
    const secrets = state.apps.secrets(app);
    const host = this.deps.baseDomain ? `${app.name}.${this.deps.baseDomain}` : undefined;
    const healthSeconds = Number(config.BEAMSTALK_HEALTH_TIMEOUT);
    return {
      app: app.name,
      release: release.version,
      image: runImage,
      ...slug,
      processTypes: release.processTypes,
      formation: state.formation.for(app.id, Object.keys(release.processTypes)),
      env: replicaEnv({ app: app.name, config, secretKeyBase: secrets.secretKeyBase, cookie: secrets.cookie, ...(host ? { host } : {}) }),
      hostnames: this.hostnames(app.name),
      health: {
        ...(config.BEAMSTALK_HEALTH_PATH ? { path: config.BEAMSTALK_HEALTH_PATH } : {}),
        ...(release.manifest.healthchecks.web?.length ? { checks: release.manifest.healthchecks.web } : {}),
        timeoutMs: healthSeconds > 0 ? healthSeconds * 1000 : this.#settings.healthTimeoutMs,
        rpc: rpcHealthCheck(config),
      },
      drainMs: this.#settings.drainMs,
    };
  }

  /** The serving release, or a clear error when the app has never deployed. */
  serving(app: App): Release {
    const current = this.deps.state.releases.current(app.id);
    if (!current) throw new DeployError(`${app.name} has no running release yet: git push first`);
    return current;
  }

  /** Rolling restart: new replicas of the serving release replace the old ones through the same health checks as a deploy. */
  restart(app: App, user: User, out: (line: string) => void = () => {}): Promise<void> {
    return this.#queue.run(app.name, async () => {
      const { runImage } = await this.deps.stackReady();
      const { retired } = await rollout(this.deps, this.plan(app, this.serving(app), runImage), out);
      this.deps.state.activity.record(app.id, user.id, "restart", "Restarted all replicas");
      this.deps.logs?.platform(app.name, `Restarted all replicas (by ${user.email})`);
      await retired;
    });
  }

  /** Kills one replica (web.1) as a crash would; it comes back as a crashed one does. */
  async kill(app: App, user: User, replica: string): Promise<void> {
    await this.#queue.run(app.name, () => killReplica(this.deps, app, user, replica));
  }

  /** What `ps` shows: desired formation against the replicas the engine has, with their use of memory and CPU. */
  async processes(app: App): Promise<ProcessList> {
    const { state, runner } = this.deps;
    const current = state.releases.current(app.id);
    const formation = current ? state.formation.for(app.id, Object.keys(current.processTypes)) : {};
    const replicas = await runner.list(app.name);
    const serving = current ? state.releases.lineage(app.id, current.version) : new Set<number>();
    const now = Date.now();
    return {
      release: current?.version ?? null,
      formation,
      replicas: await Promise.all(
        replicas.map(async (r) => {
          const running = r.state === "running";
          const [stats, nodes] = await Promise.all([running ? runner.stats(r.id).catch(() => null) : null, running ? this.#nodes(r.id) : null]);
          return {
            name: `${r.process}.${r.index}`,
            process: r.process,
            index: r.index,
            // A hot-upgraded replica runs the serving release in a container labelled with an older one.
            release: current && serving.has(r.release) ? current.version : r.release,
            state: r.state,
            size: r.size,
            startedAt: r.startedAt,
            uptimeSeconds: r.state === "running" && r.startedAt ? Math.max(0, Math.round((now - Date.parse(r.startedAt)) / 1000)) : null,
            restarts: r.restarts + (this.deps.revivals?.(r.id) ?? 0),
            memoryBytes: stats?.memoryBytes ?? null,
            memoryLimitBytes: stats?.memoryLimitBytes ?? null,
            cpuPercent: stats?.cpuPercent ?? null,
            node: nodes?.node ?? (running && r.address.host ? `${app.name}@${r.address.host}` : null),
            connectedNodes: nodes?.connected ?? null,
          };
        }),
      ),
    };
  }

  /** A running replica's node and peers over rpc, bounded by PS_NODES_TIMEOUT_MS; null for no release or no answer. */
  async #nodes(id: string): Promise<{ node: string; connected: string[] } | null> {
    const deadline = Date.now() + PS_NODES_TIMEOUT_MS;
    try {
      const release = await findRelease(this.deps.runner, id, { timeoutMs: PS_NODES_TIMEOUT_MS });
      if (!release) return null;
      return await nodeInfo(this.deps.runner, id, release, Math.max(1000, deadline - Date.now()));
    } catch {
      return null;
    }
  }

  /** Scales process types; see scale.ts for how each change is applied. */
  scale(app: App, user: User, changes: Record<string, ScaleChange>, out: (line: string) => void = () => {}): Promise<Record<string, ProcessFormation>> {
    return this.#queue.run(app.name, async () => {
      const { runImage } = await this.deps.stackReady();
      const release = this.serving(app);
      const next = checkScale(release, this.deps.state.formation.for(app.id, Object.keys(release.processTypes)), changes);
      await applyScale({ ...this.deps, state: this.deps.state }, app, user, this.plan(app, release, runImage), next, out);
      this.#meter(app, release);
      this.deps.logs?.platform(app.name, `Scaled to ${Object.entries(next).map(([t, f]) => `${t}=${f.count}×${f.size}`).join(" ")} (by ${user.email})`);
      return next;
    });
  }

  /** `<app>.<base-domain>` and the app's custom domains. */
  hostnames(app: string): string[] {
    return this.deps.state.domains.hostnamesFor(app, this.deps.baseDomain);
  }

  /**
   * Rolls out a config change: the serving code with the new config, as release
   * `release`. If a deploy landed while the change waited its turn, rolling that
   * release out would bring back the code it was recorded on: the change goes
   * onto the code that serves now instead, as a new release (the waiting one is
   * left `recorded`). Resolves with the release that was rolled out.
   */
  redeploy(app: App, release: Release, out: (line: string) => void = () => {}): Promise<Release> {
    return this.#queue.run(app.name, async () => {
      const { state } = this.deps;
      const current = state.releases.current(app.id);
      let target = release;
      if (current?.slug && current.version > release.version) {
        target = state.transaction(() => {
          state.releases.setStatus(app.id, release.version, "recorded");
          return state.releases.append({
            appId: app.id,
            appName: app.name,
            summary: `${release.summary} (onto v${current.version})`,
            config: state.config.get(app),
            slug: current.slug,
            processTypes: current.processTypes,
            manifest: current.manifest,
            buildpacks: current.buildpacks,
            gitSha: current.gitSha,
            status: "pending",
            createdBy: null,
          });
        });
        out(`v${current.version} was deployed meanwhile: the change goes onto its code as v${target.version}`);
      }
      const { runImage } = await this.deps.stackReady();
      await (await this.#rollout(app, target, runImage, { out, kept: false }));
      return state.releases.get(app.id, target.version)!;
    });
  }

  /** Deploys an older release's code and config as a new release, without building. */
  rollback(app: App, user: User, version: number | undefined, out: (line: string) => void = () => {}): Promise<Release> {
    return this.#queue.run(app.name, async () => {
      const { state } = this.deps;
      const current = state.releases.current(app.id);
      const target = version !== undefined ? state.releases.get(app.id, version) : this.#previous(app, current);
      if (!target) throw new DeployError(version !== undefined ? `${app.name} has no release v${version}` : `${app.name} has no earlier release to roll back to`);
      if (!target.slug) throw new DeployError(`v${target.version} has no build to run (it only recorded config)`);
      if (target.status === "failed") throw new DeployError(`v${target.version} failed to deploy; pick another release`);
      const release = state.config.restore(app, target, user.id);
      const { runImage } = await this.deps.stackReady();
      await (await this.#rollout(app, release, runImage, { out, kept: false }));
      return state.releases.get(app.id, release.version)!;
    });
  }

  #previous(app: App, current: Release | null): Release | null {
    if (!current) return null;
    return this.deps.state.releases.list(app.id, 1000).find((r) => r.version < current.version && r.status === "succeeded" && r.slug) ?? null;
  }

  /** After a daemon restart: route each app to the replicas of its serving release that still run. */
  async restoreRoutes(): Promise<void> {
    const { state, runner } = this.deps;
    const replicas = await runner.list();
    const byApp = new Map<string, Backend[]>();
    for (const r of replicas) {
      // A daemon that stopped mid-rollout may have left a replica with its boot burst.
      await runner.settle(r.id).catch((err) => this.deps.logger.warn("deploy.settle_failed", { id: r.id, error: (err as Error).message }));
      if (r.process !== "web" || r.state === "exited") continue;
      const app = state.apps.byName(r.app);
      const current = app ? state.releases.current(app.id) : null;
      if (!app || !current || !state.releases.lineage(app.id, current.version).has(r.release)) continue;
      byApp.set(r.app, [...(byApp.get(r.app) ?? []), r.address]);
    }
    for (const [app, backends] of byApp) this.deps.router.setRoute(app, this.hostnames(app), backends);
    this.deps.logger.info("deploy.routes_restored", { apps: byApp.size, replicas: [...byApp.values()].flat().length });
  }

  /** Stops everything an app runs (apps:destroy); its usage ends now and stays on the owner's statements. */
  async removeApp(app: App): Promise<void> {
    await this.#queue.run(app.name, async () => {
      this.deps.router.removeRoute(app.name);
      await this.deps.runner.removeApp(app.name);
      this.deps.state.usage.stopApp(app);
    });
  }
}
