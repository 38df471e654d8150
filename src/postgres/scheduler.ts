import type { Logger } from "../lib/logger.ts";

/** "HH:MM" in UTC. */
export const DEFAULT_BACKUP_TIME = "03:00";

export function parseTime(at: string): { hour: number; minute: number } {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(at);
  if (!match) throw new Error(`backup time must be HH:MM (UTC), got ${JSON.stringify(at)}`);
  return { hour: Number(match[1]), minute: Number(match[2]) };
}

/** The next time strictly after `now` at HH:MM UTC. */
export function nextRun(now: Date, at: string): Date {
  const { hour, minute } = parseTime(at);
  const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), hour, minute));
  if (next.getTime() <= now.getTime()) next.setUTCDate(next.getUTCDate() + 1);
  return next;
}

export interface SchedulerOptions {
  /** HH:MM UTC; default 03:00. */
  at?: string;
  /** The daily job (every database's backup and pruning); its errors are logged, never thrown. */
  run: () => Promise<void>;
  logger: Logger;
  now?: () => Date;
}

/** Runs the daily backups once a day at a set time. start() and stop(); a run in progress finishes. */
export class BackupScheduler {
  readonly #at: string;
  readonly #options: SchedulerOptions;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #running: Promise<void> | null = null;

  constructor(options: SchedulerOptions) {
    this.#at = options.at ?? DEFAULT_BACKUP_TIME;
    parseTime(this.#at);
    this.#options = options;
  }

  /** When the next run is due, or null when stopped. */
  next: Date | null = null;

  start(): void {
    if (this.#timer) return;
    this.#schedule();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.next = null;
    await this.#running;
  }

  #schedule(): void {
    const now = (this.#options.now ?? (() => new Date()))();
    this.next = nextRun(now, this.#at);
    // setTimeout caps at 2^31-1 ms (24.8 days); a day is far below.
    this.#timer = setTimeout(() => void this.#fire(), this.next.getTime() - now.getTime());
    this.#timer.unref?.();
  }

  async #fire(): Promise<void> {
    this.#options.logger.info("postgres.daily_backups.start");
    this.#running = this.#options.run().catch((err) => this.#options.logger.error("postgres.daily_backups.failed", { error: (err as Error).message }));
    await this.#running;
    this.#running = null;
    if (this.#timer) this.#schedule();
  }
}
