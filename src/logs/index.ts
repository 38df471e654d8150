import type { Logger } from "../lib/logger.ts";
import type { Runner } from "../runner/types.ts";
import type { BuildLog } from "./build-log.ts";
import { Collector } from "./collector.ts";
import type { SenderOptions } from "./drain-sender.ts";
import { LogDrains } from "./drains.ts";
import type { HttpsBatching } from "./https-drain.ts";
import type { Rotation } from "./rotating-file.ts";
import { LogStore } from "./store.ts";
import type { DrainRecords, LogEntry } from "./types.ts";

export interface LogsOptions {
  /** `<dataDir>/logs`. */
  dir: string;
  records: DrainRecords;
  logger: Logger;
  /** The engine whose replicas are followed; without it nothing is collected (API tests). */
  runner?: Pick<Runner, "list" | "logs">;
  rotation?: Partial<Rotation>;
  sender?: SenderOptions & HttpsBatching;
  /** How often the collector looks for new and gone replicas (default 3 s). */
  syncIntervalMs?: number;
}

/**
 * Logs and log drains as the daemon wires them: the on-disk store, the collector
 * that follows every replica, and the drains that forward every line.
 */
export class Logs {
  readonly store: LogStore;
  readonly drains: LogDrains;
  readonly collector: Collector | null;

  constructor(options: LogsOptions) {
    this.store = new LogStore({ dir: options.dir, ...(options.rotation ? { rotation: options.rotation } : {}) });
    this.drains = new LogDrains({ records: options.records, store: this.store, logger: options.logger, ...(options.sender ? { sender: options.sender } : {}) });
    this.collector = options.runner
      ? new Collector({ runner: options.runner, store: this.store, logger: options.logger, ...(options.syncIntervalMs ? { intervalMs: options.syncIntervalMs } : {}) })
      : null;
  }

  /** Starts the drains, then follows every replica the engine has (and keeps looking). */
  async start(): Promise<void> {
    this.drains.start();
    await this.collector?.start();
  }

  async stop(): Promise<void> {
    await this.collector?.stop();
    await this.drains.stop();
    this.store.close();
  }

  /** The last `num` lines; with follow, then every new line until the signal aborts. */
  entries(app: string, options: { num: number; follow: boolean; signal: AbortSignal }): AsyncIterable<LogEntry> | Iterable<LogEntry> {
    if (options.follow) return this.store.follow(app, { tail: options.num, signal: options.signal });
    return this.store.tail(app, options.num);
  }

  buildLog(app: string, version: number): string | null {
    return this.store.buildLog(app, version);
  }

  /** For the deploy pipeline: records one build's output (see BuildLog). */
  startBuild(app: string): BuildLog {
    return this.store.startBuild(app);
  }

  /** A line from Beamstalk itself into the app's log (source "platform"). */
  platform(app: string, line: string): void {
    this.store.append(app, { source: "platform", replica: "beamstalk", line });
  }

  /** A line of a job's output (a cron run), under the job's name (`cron.<id>`), as the app's own output. */
  job(app: string, name: string, line: string): void {
    this.store.append(app, { source: "app", replica: name, line });
  }

  /** A line from the router about the app (source "router"): upstream failures, WebSockets that broke. */
  router(app: string, line: string): void {
    this.store.append(app, { source: "router", replica: "router", line });
  }

  /** Before an app's files are removed (apps:destroy). */
  async removeApp(app: string): Promise<void> {
    await this.collector?.removeApp(app);
    await this.drains.removeApp(app);
    this.store.removeApp(app);
  }
}

export { BuildLog } from "./build-log.ts";
export { Collector } from "./collector.ts";
export { LogDrains } from "./drains.ts";
export { formatEntry } from "./format.ts";
export { LogStore } from "./store.ts";
export type { DrainRecords, DrainStatus, LogEntry, LogSource, StoredDrain } from "./types.ts";
