import type { Secret } from "../lib/secret.ts";
import { BoundedQueue } from "./queue.ts";
import type { LogEntry } from "./types.ts";

export interface SenderOptions {
  /** Lines a drain may fall behind before lines are dropped and counted as missed (default 10,000). */
  queueSize?: number;
  /** Reconnect back-off: starts at min, doubles to max (default 1 s to 30 s). */
  backoffMs?: { min: number; max: number };
  /** Extra CA certificates (PEM) to trust, for tests or a private CA. */
  ca?: string;
  /** Connect and request timeout (default 10 s). */
  timeoutMs?: number;
}

/**
 * What every drain does: a bounded queue the log store pushes into without ever
 * waiting, and one loop that delivers, reconnecting with back-off. What does not
 * fit in the queue is dropped and counted as missed.
 */
export abstract class DrainSender {
  readonly app: string;
  readonly queue: BoundedQueue<LogEntry>;
  sent = 0;
  /** Lines lost in flight when a connection or request failed. */
  lost = 0;
  connected = false;
  lastError: string | null = null;
  protected readonly options: Required<Omit<SenderOptions, "ca">> & { ca?: string };
  protected readonly closing = new AbortController();
  #loop: Promise<void> | null = null;

  constructor(app: string, protected readonly url: Secret, options: SenderOptions = {}) {
    this.app = app;
    this.options = {
      queueSize: options.queueSize ?? 10_000,
      backoffMs: options.backoffMs ?? { min: 1000, max: 30_000 },
      timeoutMs: options.timeoutMs ?? 10_000,
      ...(options.ca ? { ca: options.ca } : {}),
    };
    this.queue = new BoundedQueue(this.options.queueSize);
  }

  /** Never blocks: a full queue drops the line and counts it. */
  push(entry: LogEntry): void {
    this.queue.push(entry);
  }

  get missed(): number {
    return this.queue.dropped + this.lost;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async close(): Promise<void> {
    this.closing.abort();
    this.queue.close();
    await this.#loop;
  }

  /** Delivers from the queue until the connection fails (throws) or the drain closes. */
  protected abstract deliver(signal: AbortSignal): Promise<void>;

  async #run(): Promise<void> {
    let delay = this.options.backoffMs.min;
    const signal = this.closing.signal;
    while (!signal.aborted) {
      const began = Date.now();
      try {
        await this.deliver(signal);
      } catch (err) {
        this.lastError = this.redact((err as Error).message ?? String(err));
      }
      this.connected = false;
      if (signal.aborted) break;
      if (Date.now() - began > this.options.backoffMs.max) delay = this.options.backoffMs.min;
      await sleep(delay, signal);
      delay = Math.min(delay * 2, this.options.backoffMs.max);
    }
  }

  /** Error texts may quote the URL: keep its credentials out. */
  protected redact(message: string): string {
    const raw = this.url.reveal();
    let out = message.replaceAll(raw, "[drain URL]");
    try {
      const url = new URL(raw);
      for (const part of [url.username, url.password, url.search.slice(1), url.pathname.length > 1 ? url.pathname : ""]) {
        if (part.length >= 3) out = out.replaceAll(part, "[REDACTED]");
      }
    } catch {
      // not a URL: nothing more to take out
    }
    return out.slice(0, 300);
  }
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
