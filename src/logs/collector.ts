import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../lib/logger.ts";
import { isAppName } from "../lib/validate.ts";
import type { LogFollow, Replica, Runner } from "../runner/types.ts";
import type { LogStore } from "./store.ts";

export interface CollectorOptions {
  runner: Pick<Runner, "list" | "logs" | "followLog">;
  store: Pick<LogStore, "append" | "appDir">;
  logger: Logger;
  /** How often start()'s loop calls sync() (default 3 s). */
  intervalMs?: number;
}

/**
 * Where the collector is in one container's output: through Runner.followLog, the
 * runner's cursor (`at`); through Runner.logs, the lines recorded and a hash of the
 * last one.
 */
interface Cursor {
  n: number;
  last: string;
  at?: string;
}

interface Follow {
  replica: Replica;
  controller: AbortController;
  done: Promise<void>;
  /** Set while a Runner.followLog follow runs: its cursor is saved at each sync. */
  log?: LogFollow;
}

const CURSORS = ".cursors.json";

/**
 * Follows every replica's output and appends it to the app's log as source
 * "app", replica `web.1`. `sync()` starts following replicas that appeared and
 * stops following ones that went away; `start()` runs it now and then, so a
 * replica the engine restarted is picked up again.
 *
 * Memory: one stream per replica is read one line at a time and written to disk
 * before the next is read, so a replica that floods its output is slowed down
 * (Docker keeps the backlog in its own log file), never buffered here.
 *
 * Lines the engine dropped: where the runner can say (Runner.followLog: the Docker
 * runner reads Docker's json-file logs itself), lines a replica wrote faster than
 * they could be read, which Docker's ring let go, are counted, and the app's log
 * gets a platform line "N lines dropped" in their place (Heroku's L10 does the
 * same). Where it cannot (replicas on other Swarm hosts, Kubernetes), logs() is
 * followed as below and such lines are lost without a count.
 *
 * No line twice: the engine replays a container's whole output on every follow,
 * so the collector counts the lines it has recorded per container and skips that
 * many. The counts are saved in `<app>/.cursors.json` at each sync and at stop,
 * so a restarted daemon resumes where it was (at most one sync's lines repeat
 * after a crash). Docker rotates a replica's own log (10 MiB × 3): when lines
 * were rotated away, the line at the cursor is not the one recorded last, and
 * the collector records from there on (the rotated-away lines it skipped are
 * lost). A `since` option on Runner.logs would make this exact.
 */
export class Collector {
  readonly #options: CollectorOptions;
  readonly #follows = new Map<string, Follow>();
  /** Lines recorded per container id, by app. */
  readonly #cursors = new Map<string, Map<string, Cursor>>();
  readonly #dirty = new Set<string>();
  #timer: ReturnType<typeof setInterval> | null = null;
  #syncing: Promise<void> | null = null;
  #stopped = false;

  constructor(options: CollectorOptions) {
    this.#options = options;
  }

  /** Starts following one replica (no-op when it is already followed). */
  watch(replica: Replica): void {
    if (this.#stopped || this.#follows.has(replica.id)) return;
    const controller = new AbortController();
    const follow: Follow = { replica, controller, done: Promise.resolve() };
    this.#follows.set(replica.id, follow);
    follow.done = this.#follow(follow, controller.signal).finally(() => {
      if (this.#follows.get(replica.id) === follow) this.#follows.delete(replica.id);
    });
  }

  /** Stops following a replica. */
  async unwatch(id: string): Promise<void> {
    const follow = this.#follows.get(id);
    if (!follow) return;
    follow.controller.abort();
    await follow.done;
  }

  /**
   * Follows every replica the engine has (of one app, or all) that is not
   * followed yet, and stops following those the engine no longer has.
   */
  sync(app?: string): Promise<void> {
    if (this.#syncing) return this.#syncing.then(() => this.sync(app));
    this.#syncing = this.#sync(app).finally(() => (this.#syncing = null));
    return this.#syncing;
  }

  /** sync() now and every intervalMs until stop(). */
  start(): Promise<void> {
    const interval = this.#options.intervalMs ?? 3000;
    this.#timer ??= setInterval(() => {
      this.sync().catch((err) => this.#options.logger.warn("logs.sync_failed", { error: (err as Error).message }));
    }, interval);
    return this.sync();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#syncing?.catch(() => {});
    await Promise.all([...this.#follows.keys()].map((id) => this.unwatch(id)));
    this.#saveCursors();
  }

  /** Ids of the replicas being followed. */
  following(): string[] {
    return [...this.#follows.keys()];
  }

  /** Forgets an app's cursors (apps:destroy). */
  async removeApp(app: string): Promise<void> {
    await Promise.all([...this.#follows.values()].filter((f) => f.replica.app === app).map((f) => this.unwatch(f.replica.id)));
    this.#cursors.delete(app);
    this.#dirty.delete(app);
  }

  async #sync(app?: string): Promise<void> {
    if (this.#stopped) return;
    // Containers with Beamstalk's labels but no app of a valid name (a test's, another tool's) are not followed.
    const replicas = (await this.#options.runner.list(app)).filter((r) => isAppName(r.app));
    const present = new Set(replicas.map((r) => r.id));
    for (const replica of replicas) if (replica.state !== "exited" || !this.#cursorsOf(replica.app).has(replica.id)) this.watch(replica);
    for (const follow of [...this.#follows.values()]) {
      if ((app === undefined || follow.replica.app === app) && !present.has(follow.replica.id)) await this.unwatch(follow.replica.id);
    }
    // Containers that are gone will never be followed again: forget their counts.
    for (const [name, cursors] of this.#cursors) {
      if (app !== undefined && name !== app) continue;
      for (const id of cursors.keys()) {
        if (!present.has(id)) {
          cursors.delete(id);
          this.#dirty.add(name);
        }
      }
    }
    this.#saveCursors();
  }

  async #follow(follow: Follow, signal: AbortSignal): Promise<void> {
    const { replica } = follow;
    const cursors = this.#cursorsOf(replica.app);
    const log = await this.#options.runner.followLog?.(replica.id, { from: cursors.get(replica.id)?.at, signal }).catch(() => null);
    if (!log) return this.#read(replica, signal);
    const { store, logger } = this.#options;
    const name = `${replica.process}.${replica.index}`;
    follow.log = log;
    this.#dirty.add(replica.app);
    // A cursor an earlier version saved (lines counted through logs()): skip that many once.
    const earlier = cursors.get(replica.id);
    let skip = earlier && earlier.at === undefined ? earlier.n : 0;
    try {
      for await (const item of log) {
        if (signal.aborted) break;
        if (skip > 0 && "line" in item) {
          if (--skip === 0 && hash(item.line) !== earlier!.last) logger.warn("logs.replay_misaligned", { app: replica.app, replica: name, skipped: earlier!.n });
          continue;
        }
        if ("dropped" in item) {
          const line = item.dropped === null
            ? `lines were dropped: ${name} wrote them while Beamstalk was not reading, and Docker rotated them away (how many is not known)`
            : `${item.dropped} lines dropped: ${name} wrote faster than its output could be read (Docker keeps 30 MB of it)`;
          store.append(replica.app, { source: "platform", replica: name, line });
          logger.warn("logs.lines_dropped", { app: replica.app, replica: name, lines: item.dropped ?? "unknown" });
          continue;
        }
        store.append(replica.app, { source: "app", replica: name, line: item.line });
      }
    } catch (err) {
      if (!signal.aborted) logger.warn("logs.follow_ended", { app: replica.app, replica: name, error: (err as Error).message });
    } finally {
      cursors.set(replica.id, { n: 0, last: "", at: log.cursor() });
      follow.log = undefined;
    }
  }

  async #read(replica: Replica, signal: AbortSignal): Promise<void> {
    const { runner, store, logger } = this.#options;
    const cursors = this.#cursorsOf(replica.app);
    const cursor = cursors.get(replica.id);
    let skip = cursor?.n ?? 0;
    const name = `${replica.process}.${replica.index}`;
    let n = 0;
    try {
      for await (const { line } of runner.logs(replica.id, { follow: true, signal })) {
        if (signal.aborted) break;
        n++;
        if (n < skip) continue;
        if (n === skip) {
          if (hash(line) === cursor?.last) continue;
          logger.warn("logs.replay_misaligned", { app: replica.app, replica: name, skipped: skip });
          skip = 0;
        }
        store.append(replica.app, { source: "app", replica: name, line });
        cursors.set(replica.id, { n, last: hash(line) });
        this.#dirty.add(replica.app);
      }
    } catch (err) {
      if (!signal.aborted) logger.warn("logs.follow_ended", { app: replica.app, replica: name, error: (err as Error).message });
    }
    if (!cursors.has(replica.id)) {
      cursors.set(replica.id, { n, last: "" });
      this.#dirty.add(replica.app);
    }
  }

  #cursorsOf(app: string): Map<string, Cursor> {
    let cursors = this.#cursors.get(app);
    if (!cursors) {
      cursors = new Map();
      const path = join(this.#options.store.appDir(app), CURSORS);
      if (existsSync(path)) {
        try {
          for (const [id, c] of Object.entries(JSON.parse(readFileSync(path, "utf8")) as Record<string, Cursor>)) {
            if (typeof c?.n === "number" && typeof c.last === "string") cursors.set(id, { n: c.n, last: c.last, ...(typeof c.at === "string" ? { at: c.at } : {}) });
          }
        } catch {
          // a torn file: start over (lines may repeat once)
        }
      }
      this.#cursors.set(app, cursors);
    }
    return cursors;
  }

  #saveCursors(): void {
    for (const follow of this.#follows.values()) {
      if (!follow.log) continue;
      this.#cursorsOf(follow.replica.app).set(follow.replica.id, { n: 0, last: "", at: follow.log.cursor() });
      this.#dirty.add(follow.replica.app);
    }
    for (const app of this.#dirty) {
      const cursors = this.#cursors.get(app);
      if (!cursors) continue;
      const dir = this.#options.store.appDir(app);
      const path = join(dir, CURSORS);
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        writeFileSync(`${path}.tmp`, JSON.stringify(Object.fromEntries(cursors)), { mode: 0o600 });
        renameSync(`${path}.tmp`, path);
      } catch (err) {
        this.#options.logger.warn("logs.cursor_save_failed", { app, error: (err as Error).message });
      }
    }
    this.#dirty.clear();
  }
}

const hash = (line: string): string => Bun.hash(line).toString(36);
