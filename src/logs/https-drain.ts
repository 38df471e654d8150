import type { Secret } from "../lib/secret.ts";
import { DrainSender, type SenderOptions, sleep } from "./drain-sender.ts";
import type { DrainTarget } from "./drain-url.ts";

export interface HttpsBatching {
  /** Lines per POST at most (default 500). */
  batchSize?: number;
  /** How long a batch waits to fill before it is sent anyway (default 1 s). */
  intervalMs?: number;
}

/**
 * https:// drains: POSTs batches of newline-delimited JSON, one object per line
 * (`{"time","app","source","replica","line"}`, Content-Type application/x-ndjson).
 * A user:password in the URL becomes Basic auth and leaves the URL. A batch
 * the receiver refuses or does not answer in time counts as missed.
 */
export class HttpsDrain extends DrainSender {
  readonly #batchSize: number;
  readonly #intervalMs: number;

  constructor(app: string, url: Secret, private readonly target: DrainTarget, options: SenderOptions & HttpsBatching = {}) {
    super(app, url, options);
    this.#batchSize = options.batchSize ?? 500;
    this.#intervalMs = options.intervalMs ?? 1000;
  }

  protected async deliver(signal: AbortSignal): Promise<void> {
    const url = new URL(this.target.url.href);
    const headers: Record<string, string> = { "content-type": "application/x-ndjson", "user-agent": "beamstalk-drain" };
    if (url.username || url.password) {
      headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString("base64")}`;
      url.username = "";
      url.password = "";
    }
    while (!signal.aborted) {
      await this.queue.wait(signal);
      if (this.queue.length < this.#batchSize) await sleep(this.#intervalMs, signal);
      const batch = this.queue.take(this.#batchSize);
      if (batch.length === 0) continue;
      const body = batch.map((e) => JSON.stringify({ time: e.time, app: this.app, source: e.source, replica: e.replica, line: e.line })).join("\n") + "\n";
      let res: Response;
      try {
        res = await fetch(url, {
          method: "POST",
          headers: { ...headers, "logplex-msg-count": String(batch.length) },
          body,
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.options.timeoutMs)]),
          redirect: "manual",
          ...(this.options.ca ? { tls: { ca: this.options.ca } } : {}),
        });
        await res.arrayBuffer().catch(() => {});
      } catch (err) {
        if (signal.aborted) return;
        this.lost += batch.length;
        throw err;
      }
      if (!res.ok) {
        this.lost += batch.length;
        throw new Error(`the drain answered HTTP ${res.status}`);
      }
      this.sent += batch.length;
      this.connected = true;
      this.lastError = null;
    }
  }
}
