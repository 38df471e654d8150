import type { CronEntry } from "../lib/app-manifest.ts";
import { type CronSchedule, parseCron } from "../lib/cron.ts";
import { BeamstalkError, notFound } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import type { JobOptions, JobResult, JobSpec } from "../runner/types.ts";
import type { CronRun } from "../state/cron-runs.ts";
import type { App, State, User } from "../state/index.ts";
import { lineSplitter, shellCommand } from "./job-lines.ts";

export interface CronDeps {
  state: State;
  /** One-off jobs of the app's current release (jobs.ts's Jobs). */
  jobs: {
    prepare(app: App, request: { argv: string[]; size: number }): Promise<JobSpec>;
    run(spec: JobSpec, options: JobOptions): Promise<JobResult>;
  };
  /** A job's output line into the app's log under its name (`cron.<id>`), and Beamstalk's own lines. */
  logs?: { job(app: string, name: string, line: string): void; platform(app: string, line: string): void };
  logger: Logger;
  /** The clock (tests turn it); default the system's. */
  now?: () => Date;
  /** Bound of a run unless the app sets BEAMSTALK_CRON_TIMEOUT (seconds); default 1 h. */
  timeoutMs?: number;
}

export interface CronStatus extends CronEntry {
  release: number;
  running: boolean;
  lastRun: CronRun | null;
  /** Due runs skipped since the last one started (it was still running). */
  skippedSince: number;
  nextRun: string;
}

export const DEFAULT_CRON_TIMEOUT_MS = 60 * 60_000;
const MINUTE = 60_000;

/**
 * app.json's cron entries: each runs as a one-off job of the app's current
 * release when its schedule (UTC) comes due, checked once a minute. A run still
 * going when the entry is due again is not started twice: that due run is
 * recorded as skipped. Runs are kept in the state (CronRuns), so `cron` shows the
 * last one after a daemon restart; a run the daemon stopped during is failed.
 */
export class CronScheduler {
  readonly #running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  readonly #schedules = new Map<string, CronSchedule>();
  #timer: ReturnType<typeof setTimeout> | null = null;
  #lastMinute = 0;

  constructor(private readonly deps: CronDeps) {}

  start(): void {
    if (this.#timer) return;
    const stale = this.deps.state.cronRuns.interrupted("the daemon stopped during the run");
    if (stale > 0) this.deps.logger.warn("cron.interrupted_runs", { runs: stale });
    this.#arm();
  }

  /** Stops scheduling; runs still going are stopped (their jobs killed) and recorded as failed. */
  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const running = [...this.#running.values()];
    for (const r of running) r.abort.abort();
    await Promise.all(running.map((r) => r.done));
  }

  /** Starts every entry due in the minute `at` falls in (once per minute, whatever calls it). */
  tick(at: Date): void {
    const minute = Math.floor(at.getTime() / MINUTE) * MINUTE;
    if (minute <= this.#lastMinute) return;
    this.#lastMinute = minute;
    for (const app of this.deps.state.apps.all()) {
      const release = this.deps.state.releases.current(app.id);
      for (const entry of release?.manifest.cron ?? []) {
        const fail = (err: unknown) => this.deps.logger.error("cron.fire_failed", { app: app.name, entry: entry.id, error: (err as Error).message });
        try {
          if (this.#schedule(entry).next(new Date(minute - 1)).getTime() !== minute) continue;
          this.#fire(app, release!.version, entry, "schedule", null).catch(fail);
        } catch (err) {
          fail(err);
        }
      }
    }
  }

  /** The app's entries (its current release's), with their last run and next run. */
  entries(app: App): CronStatus[] {
    const release = this.deps.state.releases.current(app.id);
    if (!release) return [];
    const latest = this.deps.state.cronRuns.latest(app.id);
    const now = this.#now();
    return release.manifest.cron.map((entry) => ({
      ...entry,
      release: release.version,
      running: this.#running.has(key(app, entry.id)),
      lastRun: latest.get(entry.id)?.run ?? null,
      skippedSince: latest.get(entry.id)?.skippedSince ?? 0,
      nextRun: this.#schedule(entry).next(now).toISOString(),
    }));
  }

  /** `cron:run ID`: starts the entry now, in the background; refused while it runs. */
  async runNow(app: App, id: string, user: User): Promise<CronRun> {
    const release = this.deps.state.releases.current(app.id);
    const entry = release?.manifest.cron.find((e) => e.id === id);
    if (!release || !entry) throw notFound(`${app.name} has no cron entry ${id}`, "`beamstalk cron` lists them");
    if (this.#running.has(key(app, id))) throw new BeamstalkError("conflict", `cron entry ${id} is running now`, "a run is never started twice; wait for it to finish");
    return this.#fire(app, release.version, entry, "manual", user);
  }

  async #fire(app: App, version: number, entry: CronEntry, trigger: CronRun["trigger"], user: User | null): Promise<CronRun> {
    const { state, logger } = this.deps;
    const name = `cron.${entry.id}`;
    if (this.#running.has(key(app, entry.id))) {
      const run = state.cronRuns.skipped(app.id, entry.id, version, trigger, "the previous run was still running");
      this.deps.logs?.platform(app.name, `${name} (${entry.schedule}) was due; skipped, the previous run is still running`);
      logger.info("cron.skipped", { app: app.name, entry: entry.id });
      return run;
    }
    const abort = new AbortController();
    let finished!: () => void;
    this.#running.set(key(app, entry.id), { abort, done: new Promise<void>((resolve) => (finished = resolve)) });
    const run = state.cronRuns.start(app.id, entry.id, version, trigger);
    if (user) state.activity.record(app.id, user.id, "cron.run", `Ran cron ${entry.id} now on v${version}`);
    this.deps.logs?.platform(app.name, `${name} (${entry.schedule}) starting on v${version}${user ? ` (by ${user.email})` : ""}: ${entry.command}`);
    void (async () => {
      const began = performance.now();
      try {
        await this.#runJob(app, entry, run, abort, began);
      } catch (err) {
        // Bookkeeping that failed (the app destroyed meanwhile, say) must not take the daemon down.
        logger.error("cron.record_failed", { app: app.name, entry: entry.id, error: (err as Error).message });
      } finally {
        this.#running.delete(key(app, entry.id));
        finished();
      }
    })();
    return run;
  }

  /** Runs the entry's job of the current release to its end; its output goes to the app's log as `cron.<id>`. */
  async #runJob(app: App, entry: CronEntry, run: CronRun, abort: AbortController, began: number): Promise<void> {
    const { state, logger } = this.deps;
    let exitCode: number | null = null;
    let detail: string | undefined;
    try {
      const spec = await this.deps.jobs.prepare(app, { argv: shellCommand(entry.command), size: 1 });
      const config = state.releases.config(app.id, app.name, spec.release) ?? {};
      const seconds = Number(config.BEAMSTALK_CRON_TIMEOUT);
      const timeoutMs = seconds > 0 ? seconds * 1000 : (this.deps.timeoutMs ?? DEFAULT_CRON_TIMEOUT_MS);
      const lines = lineSplitter((line) => this.deps.logs?.job(app.name, `cron.${entry.id}`, line));
      const result = await this.deps.jobs.run(spec, { timeoutMs, signal: abort.signal, onOutput: (chunk) => lines.write(chunk) });
      lines.flush();
      exitCode = result.exitCode;
      if (result.timedOut) detail = `stopped after ${Math.round(timeoutMs / 1000)} s (its time limit; BEAMSTALK_CRON_TIMEOUT sets it)`;
      else if (abort.signal.aborted && result.exitCode !== 0) detail = "stopped: the daemon stopped during the run";
    } catch (err) {
      detail = err instanceof BeamstalkError ? err.message : `could not run: ${(err as Error).message}`;
      logger.error("cron.run_failed", { app: app.name, entry: entry.id, error: (err as Error).message });
    }
    this.#record(app, entry, run, { exitCode, ...(detail ? { detail } : {}) }, began);
  }

  /** The run's end into the state and the app's log; into the activity when the entry starts failing (not at every failed run). */
  #record(app: App, entry: CronEntry, run: CronRun, end: { exitCode: number | null; detail?: string }, began: number): void {
    const { state, logger } = this.deps;
    const ok = end.exitCode === 0 && end.detail === undefined;
    state.cronRuns.finish(run.id, { status: ok ? "succeeded" : "failed", ...end });
    const what = ok ? "succeeded" : `failed${end.exitCode !== null ? ` (exit ${end.exitCode})` : ""}${end.detail ? `: ${end.detail}` : ""}`;
    this.deps.logs?.platform(app.name, `cron.${entry.id} ${what} in ${((performance.now() - began) / 1000).toFixed(1)} s`);
    if (!ok && state.cronRuns.previousStatus(app.id, entry.id, run.id) !== "failed") {
      state.activity.record(app.id, null, "cron.failed", `Cron ${entry.id} (${entry.schedule}) ${what}`);
    }
    logger.info("cron.done", { app: app.name, entry: entry.id, exit: end.exitCode, ok, ms: Math.round(performance.now() - began) });
  }

  #schedule(entry: CronEntry): CronSchedule {
    let schedule = this.#schedules.get(entry.schedule);
    if (!schedule) this.#schedules.set(entry.schedule, (schedule = parseCron(entry.schedule)));
    return schedule;
  }

  #now(): Date {
    return (this.deps.now ?? (() => new Date()))();
  }

  /** Wakes at the start of each minute (a little after, so the clock has turned). */
  #arm(): void {
    const now = this.#now().getTime();
    const wait = MINUTE - (now % MINUTE) + 50;
    this.#timer = setTimeout(() => {
      try {
        this.tick(this.#now());
      } catch (err) {
        this.deps.logger.error("cron.tick_failed", { error: (err as Error).message });
      }
      if (this.#timer) this.#arm();
    }, wait);
    this.#timer.unref?.();
  }
}

function key(app: App, entry: string): string {
  return `${app.id}:${entry}`;
}
