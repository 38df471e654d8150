import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { checkAppName } from "../lib/validate.ts";
import { BuildLog } from "./build-log.ts";
import { decodeEntry, encodeEntry } from "./format.ts";
import { BoundedQueue } from "./queue.ts";
import { type Rotation, RotatingFile } from "./rotating-file.ts";
import type { LogEntry, LogSource } from "./types.ts";

export interface LogStoreOptions {
  /** `<dataDir>/logs`: each app's log lives in `<dir>/<app>/`. */
  dir: string;
  /** Per app: files × maxFileBytes on disk at most (default 3 × 8 MiB). */
  rotation?: Partial<Rotation>;
  /** Longer lines are cut (default 16 KiB). */
  maxLineBytes?: number;
  /** Lines a live reader may fall behind before lines are dropped for it (default 10,000). */
  followBuffer?: number;
  now?: () => Date;
}

export interface NewEntry {
  source: LogSource;
  replica?: string;
  line: string;
  time?: string;
}

export type AppendListener = (app: string, entry: LogEntry) => void;

export const DEFAULT_ROTATION: Rotation = { maxFileBytes: 8 * 1024 * 1024, files: 3 };
const LOG_FILE = "app.log";

/**
 * Each app's log on disk, `<dir>/<app>/app.log` plus rotated files, with a size
 * cap per app. Appends are synchronous: tail-then-follow has no gap and no
 * duplicate. Live readers and drains hear every append through bounded queues.
 */
export class LogStore {
  readonly dir: string;
  readonly #rotation: Rotation;
  readonly #maxLineBytes: number;
  readonly #followBuffer: number;
  readonly #now: () => Date;
  readonly #files = new Map<string, RotatingFile>();
  readonly #readers = new Map<string, Set<BoundedQueue<LogEntry>>>();
  readonly #listeners = new Set<AppendListener>();

  constructor(options: LogStoreOptions) {
    this.dir = options.dir;
    this.#rotation = { ...DEFAULT_ROTATION, ...options.rotation };
    if (this.#rotation.files < 1 || this.#rotation.maxFileBytes < 1024) throw new Error("log rotation needs at least 1 file of 1 KiB");
    this.#maxLineBytes = options.maxLineBytes ?? 16 * 1024;
    this.#followBuffer = options.followBuffer ?? 10_000;
    this.#now = options.now ?? (() => new Date());
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  append(app: string, input: NewEntry): LogEntry {
    const entry: LogEntry = {
      time: input.time ?? this.#now().toISOString(),
      source: input.source,
      replica: input.replica ?? "",
      line: cut(input.line, this.#maxLineBytes),
    };
    this.#file(app).write(encodeEntry(entry));
    for (const reader of this.#readers.get(app) ?? []) reader.push(entry);
    for (const listener of this.#listeners) listener(app, entry);
    return entry;
  }

  /** The last n entries, oldest first. */
  tail(app: string, n: number): LogEntry[] {
    if (n <= 0) return [];
    const file = this.#files.get(app) ?? (existsSync(this.appDir(app)) ? this.#file(app) : null);
    if (!file) return [];
    return file.lastLines(n).map(decodeEntry).filter((e): e is LogEntry => e !== null);
  }

  /**
   * The last `tail` entries, then every new one until the signal aborts. Both
   * are taken in the same tick, so nothing is missed or repeated. A reader that
   * falls behind by more than the follow buffer loses lines, and is told so.
   */
  follow(app: string, options: { tail?: number; signal: AbortSignal }): AsyncGenerator<LogEntry> {
    const first = this.tail(app, options.tail ?? 0);
    const queue = new BoundedQueue<LogEntry>(this.#followBuffer);
    const readers = this.#readers.get(app) ?? new Set();
    this.#readers.set(app, readers);
    readers.add(queue);
    const now = this.#now;
    const stop = () => {
      readers.delete(queue);
      if (readers.size === 0 && this.#readers.get(app) === readers) this.#readers.delete(app);
      queue.close();
    };
    return (async function* () {
      try {
        yield* first;
        while (!options.signal.aborted && !queue.closed) {
          const entry = queue.shift();
          if (entry) {
            yield entry;
          } else if (queue.dropped > 0) {
            const line = `${queue.dropped} lines were not shown: this reader fell behind`;
            queue.dropped = 0;
            yield { time: now().toISOString(), source: "platform", replica: "logs", line };
          } else {
            await queue.wait(options.signal);
          }
        }
      } finally {
        stop();
      }
    })();
  }

  /** Calls listener on every append (the drains use this); returns the unsubscribe. */
  onAppend(listener: AppendListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Starts recording one build's output; see BuildLog. */
  startBuild(app: string): BuildLog {
    return new BuildLog(join(this.appDir(app), "builds"), (line) => this.append(app, { source: "build", replica: "build", line }));
  }

  /** A release's saved build output, or null when there is none. */
  buildLog(app: string, version: number): string | null {
    const path = join(this.appDir(app), "builds", `v${version}.log`);
    return existsSync(path) ? readFileSync(path, "utf8") : null;
  }

  appDir(app: string): string {
    return join(this.dir, checkAppName(app));
  }

  /** Closes the app's files and removes its logs (apps:destroy). Live readers end. */
  removeApp(app: string): void {
    this.#files.get(app)?.close();
    this.#files.delete(app);
    for (const reader of this.#readers.get(app) ?? []) reader.close();
    this.#readers.delete(app);
    rmSync(this.appDir(app), { recursive: true, force: true });
  }

  close(): void {
    for (const file of this.#files.values()) file.close();
    this.#files.clear();
    for (const readers of this.#readers.values()) for (const reader of readers) reader.close();
    this.#readers.clear();
  }

  #file(app: string): RotatingFile {
    let file = this.#files.get(app);
    if (!file) {
      const dir = this.appDir(app);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      file = new RotatingFile(join(dir, LOG_FILE), this.#rotation);
      this.#files.set(app, file);
    }
    return file;
  }
}

/** Cuts a line to max bytes (on a character boundary) and says how much was cut. */
export function cut(line: string, maxBytes: number): string {
  if (line.length * 3 <= maxBytes) return line;
  const bytes = Buffer.from(line, "utf8");
  if (bytes.length <= maxBytes) return line;
  const kept = new TextDecoder().decode(bytes.subarray(0, maxBytes)).replace(/\uFFFD$/, "");
  return `${kept}… [${bytes.length - Buffer.byteLength(kept)} bytes cut]`;
}
