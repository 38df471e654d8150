import { type FSWatcher, type Stats, closeSync, fstatSync, openSync, readSync, statSync, watch } from "node:fs";
import { basename, dirname } from "node:path";
import type { LogFollowItem } from "../types.ts";

/**
 * Follows a container's json-file log by reading Docker's own files, so that the
 * lines Docker's ring drops before they are read are counted, not silently lost.
 *
 * Docker writes `<id>-json.log`; at max-size it renames `.1` to `.2` (which unlinks
 * the old `.2`), the log to `.1`, and opens a new log. Through the API a follower
 * that falls behind never learns which files it skipped. Here every file is opened
 * as soon as it appears (a watch on the directory, or a scan every SCAN_MS), and
 * an open file stays readable after Docker renames or unlinks it: nothing is lost
 * while we hold at most `maxHeld` files. Past that (a replica writing faster than
 * the reader for ~40 MB) the oldest unread file's lines are counted, by their
 * newlines, and the file is let go: after the lines of the file being read, a
 * `{ dropped: n }` item says how many.
 *
 * A file is missed only if Docker creates and unlinks it between two scans (three
 * rotations, 30 MB, in SCAN_MS). A cursor saved from `cursor()` resumes after a
 * restart; if its file is gone by then, lines were rotated away while nobody read
 * and `{ dropped: null }` says so (how many is not known).
 */

/** How often the directory is scanned for a new file even without a watch event. */
const SCAN_MS = 100;
/** How long to sleep at the end of the newest file when no watch event comes. */
const IDLE_MS = 1000;
const CHUNK = 1 << 18;
/** A line longer than this (Docker splits lines at 16 KiB into partial entries) is cut here. */
const MAX_LINE = 1 << 20;
/** At the end of the newest file, a partial line waiting this long is given as it is. */
const PARTIAL_FLUSH_MS = 1000;

interface OpenFile {
  fd: number;
  ino: number;
  /** Birth time: tells a reused inode number from the file a cursor named. */
  born: number;
  offset: number;
  /** Lines of later files let go unread while this one was the oldest held. */
  droppedAfter: number;
}

export interface JsonLogOptions {
  /** A cursor() of an earlier follow of the same log. */
  from?: string;
  signal?: AbortSignal;
  /** Files held open (the one being read and those after it) before one is counted as dropped; default 4, at least 2. */
  maxHeld?: number;
}

export class JsonLogFollower implements AsyncIterable<LogFollowItem> {
  readonly #path: string;
  readonly #signal: AbortSignal | undefined;
  readonly #maxHeld: number;
  readonly #queue: OpenFile[] = [];
  readonly #seen = new Set<string>();
  #from: { ino: number; born: number; offset: number } | null;
  #lostAtStart = false;
  #started = false;
  #watcher: FSWatcher | null = null;
  #timer: ReturnType<typeof setInterval> | null = null;
  #wake: (() => void) | null = null;
  #closed = false;

  constructor(path: string, options: JsonLogOptions = {}) {
    this.#path = path;
    this.#signal = options.signal;
    this.#maxHeld = Math.max(2, options.maxHeld ?? 4);
    this.#from = parseCursor(options.from);
  }

  /** Where the next line starts: pass it as `from` to resume there. */
  cursor(): string {
    const head = this.#queue[0];
    if (head) return `${head.ino}:${head.born}:${head.offset}`;
    return this.#from ? `${this.#from.ino}:${this.#from.born}:${this.#from.offset}` : "";
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<LogFollowItem> {
    if (this.#started) throw new Error("a JsonLogFollower is iterated once");
    this.#started = true;
    const onAbort = () => this.#wake?.();
    this.#signal?.addEventListener("abort", onAbort, { once: true });
    try {
      this.#scan();
      if (this.#lostAtStart) yield { dropped: null };
      this.#watch();
      const buffer = Buffer.allocUnsafe(CHUNK);
      const partial = { stdout: "", stderr: "" };
      let idleSince = 0;
      let scanned = Date.now();
      while (!this.#signal?.aborted) {
        if (Date.now() - scanned >= SCAN_MS) {
          this.#scan();
          scanned = Date.now();
        }
        const head = this.#queue[0];
        if (!head) {
          await this.#sleep(IDLE_MS);
          this.#scan();
          continue;
        }
        const at = head.offset;
        const n = readSync(head.fd, buffer, 0, CHUNK, at);
        if (n > 0) {
          idleSince = 0;
          // One entry per line; the offset moves past each entry before it is given, so
          // cursor() never skips a line nor repeats one. An entry cut by the chunk's end
          // is read again with the next chunk.
          let start = 0;
          for (let i = buffer.indexOf(10); i >= 0 && i < n; i = buffer.indexOf(10, start)) {
            const parsed = parseEntry(buffer.toString("utf8", start, i));
            start = i + 1;
            head.offset = at + start;
            if (!parsed) continue;
            const joined = partial[parsed.stream] + parsed.log;
            if (joined.endsWith("\n")) {
              partial[parsed.stream] = "";
              yield { stream: parsed.stream, line: joined.slice(0, -1) };
            } else if (joined.length >= MAX_LINE) {
              partial[parsed.stream] = "";
              yield { stream: parsed.stream, line: joined };
            } else {
              partial[parsed.stream] = joined;
            }
          }
          if (start === 0) head.offset = at + n; // a megabyte without a newline is not Docker's: skip it
          // Let timers and watch events run between chunks (a scan opens new files).
          await new Promise<void>((resolve) => setImmediate(resolve));
          continue;
        }
        // At the end of this file. A newer one found by a scan before this read means
        // Docker has finished with it (it writes only the newest): go on to the next.
        if (this.#queue.length > 1) {
          const dropped = this.#release();
          if (dropped > 0) {
            partial.stdout = partial.stderr = "";
            yield { dropped };
          }
          continue;
        }
        idleSince ||= Date.now();
        if (Date.now() - idleSince >= PARTIAL_FLUSH_MS) {
          for (const stream of ["stdout", "stderr"] as const) {
            if (partial[stream] === "") continue;
            yield { stream, line: partial[stream] };
            partial[stream] = "";
          }
        }
        await this.#sleep(this.#watcher ? IDLE_MS : SCAN_MS);
        this.#scan();
      }
    } finally {
      this.#signal?.removeEventListener("abort", onAbort);
      this.close();
    }
  }

  /** Lets go of every file and stops watching. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher?.close();
    if (this.#timer) clearInterval(this.#timer);
    if (this.#queue[0]) this.#from = { ino: this.#queue[0].ino, born: this.#queue[0].born, offset: this.#queue[0].offset };
    for (const file of this.#queue.splice(0)) closeSync(file.fd);
    this.#wake?.();
  }

  #watch(): void {
    const base = basename(this.#path);
    try {
      // A write to the log is a "change" (wake the reader); a rotation is a "rename"
      // (a new file to open now, while the old ones are still there to open).
      this.#watcher = watch(dirname(this.#path), { persistent: false }, (event, name) => {
        if (typeof name === "string" && !name.startsWith(base)) return;
        if (event === "rename") this.#scan();
        this.#wake?.();
      });
    } catch {
      this.#watcher = null;
    }
    // Without a watch, a scan every SCAN_MS; it runs while the reader is busy too (the
    // reader yields between chunks), which is what opens new files in time.
    if (!this.#watcher) {
      this.#timer = setInterval(() => this.#scan(), SCAN_MS);
      (this.#timer as { unref?: () => void }).unref?.();
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.#wake === done) self.#wake = null;
        resolve();
      }
      this.#wake = done;
    });
  }

  /** Opens the log's files not opened yet, oldest first (`.N` … `.1`, then the log). */
  #scan(): void {
    if (this.#closed) return;
    const names: string[] = [];
    for (let i = 1; i < 100; i++) {
      const name = `${this.#path}.${i}`;
      try {
        statSync(name);
      } catch {
        break;
      }
      names.unshift(name);
    }
    names.push(this.#path);
    const found: OpenFile[] = [];
    for (const name of names) {
      let st: Stats;
      try {
        st = statSync(name);
      } catch {
        continue; // rotated away since, or no log yet
      }
      if (this.#seen.has(`${st.ino}:${Math.round(st.birthtimeMs)}`)) continue;
      let fd: number;
      try {
        fd = openSync(name, "r");
      } catch {
        continue;
      }
      const opened = fstatSync(fd); // the file opened, which a rotation may have swapped since the stat
      const file = { fd, ino: opened.ino, born: Math.round(opened.birthtimeMs), offset: 0, droppedAfter: 0 };
      if (this.#seen.has(keyOf(file)) || found.some((f) => keyOf(f) === keyOf(file))) {
        closeSync(fd);
        continue;
      }
      found.push(file);
    }
    if (found.length === 0) return;
    if (this.#from) {
      // First scan of a resumed follow: skip what the cursor says was read.
      const from = this.#from;
      this.#from = null;
      const at = found.findIndex((f) => f.ino === from.ino && f.born === from.born);
      if (at < 0) this.#lostAtStart = true;
      else {
        for (const f of found.splice(0, at)) {
          this.#seen.add(keyOf(f));
          closeSync(f.fd);
        }
        found[0]!.offset = from.offset;
      }
    }
    for (const f of found) {
      this.#seen.add(keyOf(f));
      this.#queue.push(f);
    }
    this.#bound();
  }

  /** Lets go of the file read to its end; the lines dropped after it, if any, are to be said. */
  #release(): number {
    const file = this.#queue.shift();
    if (!file) return 0;
    closeSync(file.fd);
    return file.droppedAfter;
  }

  /**
   * Holding more than maxHeld files, the oldest unread one (the one after the file
   * being read) is counted and let go: its lines are dropped after the head's.
   */
  #bound(): void {
    while (this.#queue.length > this.#maxHeld) {
      const [victim] = this.#queue.splice(1, 1);
      this.#queue[0]!.droppedAfter += this.#countRest(victim!) + victim!.droppedAfter;
      closeSync(victim!.fd);
    }
  }

  /** Entries (newlines) from the file's offset to its end: what is dropped with it. */
  #countRest(file: OpenFile): number {
    const buffer = Buffer.allocUnsafe(CHUNK);
    let count = 0;
    let offset = file.offset;
    for (;;) {
      const n = readSync(file.fd, buffer, 0, CHUNK, offset);
      if (n <= 0) break;
      offset += n;
      for (let i = buffer.indexOf(10); i >= 0 && i < n; i = buffer.indexOf(10, i + 1)) count++;
    }
    return count;
  }
}

const keyOf = (f: { ino: number; born: number }) => `${f.ino}:${f.born}`;

function parseCursor(cursor: string | undefined): { ino: number; born: number; offset: number } | null {
  const m = /^(\d+):(\d+):(\d+)$/.exec(cursor ?? "");
  return m ? { ino: Number(m[1]), born: Number(m[2]), offset: Number(m[3]) } : null;
}

function parseEntry(text: string): { stream: "stdout" | "stderr"; log: string } | null {
  try {
    const entry = JSON.parse(text) as { log?: unknown; stream?: unknown };
    if (typeof entry.log !== "string") return null;
    return { stream: entry.stream === "stderr" ? "stderr" : "stdout", log: entry.log };
  } catch {
    return null;
  }
}
