import { conflict } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import { Secret } from "../lib/secret.ts";
import type { DrainSender, SenderOptions } from "./drain-sender.ts";
import { parseDrainUrl, redactUrl } from "./drain-url.ts";
import { HttpsDrain, type HttpsBatching } from "./https-drain.ts";
import type { LogStore } from "./store.ts";
import { SyslogDrain } from "./syslog-drain.ts";
import type { DrainRecords, DrainStatus, LogEntry, StoredDrain } from "./types.ts";

export interface LogDrainsOptions {
  records: DrainRecords;
  store: Pick<LogStore, "onAppend">;
  logger: Logger;
  sender?: SenderOptions & HttpsBatching;
  /** At most this many drains per app (default 10). */
  maxPerApp?: number;
}

interface Running {
  record: StoredDrain;
  sender: DrainSender;
}

/**
 * The apps' drains: each gets every line appended to its app's log, through its
 * own bounded queue, so a drain that is down or slow holds up neither the app
 * nor the other drains. URLs stay Secrets; listings and logs show them redacted.
 */
export class LogDrains {
  readonly #options: LogDrainsOptions;
  readonly #byApp = new Map<string, Running[]>();
  #unsubscribe: (() => void) | null = null;

  constructor(options: LogDrainsOptions) {
    this.#options = options;
  }

  /** Starts every stored drain and begins forwarding appended lines. */
  start(): void {
    if (this.#unsubscribe) return;
    for (const record of this.#options.records.all()) this.#run(record);
    this.#unsubscribe = this.#options.store.onAppend((app, entry) => this.#forward(app, entry));
  }

  list(app: string): DrainStatus[] {
    return (this.#byApp.get(app) ?? []).map(status);
  }

  /** Checks the URL (bad_request when it is not a drain URL), stores it encrypted, starts it. */
  add(app: string, rawUrl: unknown): DrainStatus {
    parseDrainUrl(rawUrl);
    const running = this.#byApp.get(app) ?? [];
    const max = this.#options.maxPerApp ?? 10;
    if (running.length >= max) throw conflict(`${app} has ${max} drains already`, "remove one with `beamstalk drains:remove ID`");
    const record = this.#options.records.add(app, new Secret(rawUrl as string));
    this.#options.logger.info("drain.added", { app, id: record.id, url: redactUrl(record.url.reveal()) });
    return status(this.#run(record));
  }

  async remove(app: string, id: number): Promise<boolean> {
    if (!this.#options.records.remove(app, id)) return false;
    const running = this.#byApp.get(app) ?? [];
    const found = running.find((r) => r.record.id === id);
    this.#byApp.set(app, running.filter((r) => r !== found));
    await found?.sender.close();
    this.#options.logger.info("drain.removed", { app, id });
    return true;
  }

  /** Stops an app's drains (apps:destroy; the rows go with the app). */
  async removeApp(app: string): Promise<void> {
    const running = this.#byApp.get(app) ?? [];
    this.#byApp.delete(app);
    await Promise.all(running.map((r) => r.sender.close()));
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    const all = [...this.#byApp.values()].flat();
    this.#byApp.clear();
    await Promise.all(all.map((r) => r.sender.close()));
  }

  #forward(app: string, entry: LogEntry): void {
    for (const r of this.#byApp.get(app) ?? []) r.sender.push(entry);
  }

  #run(record: StoredDrain): Running {
    const target = parseDrainUrl(record.url.reveal());
    const options = this.#options.sender ?? {};
    const sender = target.kind === "https" ? new HttpsDrain(record.app, record.url, target, options) : new SyslogDrain(record.app, record.url, target, options);
    const running = { record, sender };
    this.#byApp.set(record.app, [...(this.#byApp.get(record.app) ?? []), running]);
    sender.start();
    return running;
  }
}

function status({ record, sender }: Running): DrainStatus {
  return {
    id: record.id,
    url: redactUrl(record.url.reveal()),
    created_at: record.createdAt,
    connected: sender.connected,
    missed: sender.missed,
    sent: sender.sent,
    last_error: sender.lastError,
  };
}
