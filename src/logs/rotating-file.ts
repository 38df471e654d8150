import { closeSync, existsSync, fstatSync, openSync, readSync, renameSync, rmSync, writeSync } from "node:fs";

export interface Rotation {
  /** A file is rotated before it would grow past this. */
  maxFileBytes: number;
  /** Files kept: the live one plus files - 1 rotated ones (`app.log.1` is the newest of those). */
  files: number;
}

const CHUNK = 64 * 1024;

/**
 * An append-only file with size-capped rotation: at most files × maxFileBytes on
 * disk. Writes are synchronous, so a reader that reads and then subscribes in
 * the same tick sees every line exactly once.
 */
export class RotatingFile {
  #fd: number | null = null;
  #size = 0;

  constructor(
    readonly path: string,
    readonly rotation: Rotation,
  ) {}

  write(text: string): void {
    const bytes = Buffer.from(text, "utf8");
    let fd = this.#open();
    if (this.#size > 0 && this.#size + bytes.length > this.rotation.maxFileBytes) fd = this.#rotate();
    writeSync(fd, bytes);
    this.#size += bytes.length;
  }

  /** The last n lines, oldest first, across the live and rotated files. */
  lastLines(n: number): string[] {
    const newestFirst: string[] = [];
    for (let i = 0; i < this.rotation.files && newestFirst.length < n; i++) {
      const path = i === 0 ? this.path : `${this.path}.${i}`;
      if (!existsSync(path)) break;
      readBackwards(path, n - newestFirst.length, newestFirst);
    }
    return newestFirst.reverse();
  }

  close(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }

  #open(): number {
    if (this.#fd === null) {
      this.#fd = openSync(this.path, "a", 0o600);
      this.#size = fstatSync(this.#fd).size;
    }
    return this.#fd;
  }

  #rotate(): number {
    this.close();
    const last = this.rotation.files - 1;
    if (last < 1) rmSync(this.path, { force: true });
    for (let i = last; i >= 1; i--) {
      const from = i === 1 ? this.path : `${this.path}.${i - 1}`;
      if (existsSync(from)) renameSync(from, `${this.path}.${i}`);
    }
    return this.#open();
  }
}

/** Pushes up to n of the file's last lines onto out, newest first. */
function readBackwards(path: string, n: number, out: string[]): void {
  const fd = openSync(path, "r");
  try {
    let pos = fstatSync(fd).size;
    let carry = Buffer.alloc(0);
    let found = 0;
    while (pos > 0 && found < n) {
      const len = Math.min(CHUNK, pos);
      pos -= len;
      const chunk = Buffer.alloc(len);
      readSync(fd, chunk, 0, len, pos);
      const buf = carry.length ? Buffer.concat([chunk, carry]) : chunk;
      let end = buf.length;
      for (let i = buf.length - 1; i >= 0 && found < n; i--) {
        if (buf[i] !== 10) continue;
        if (i + 1 < end) {
          out.push(buf.toString("utf8", i + 1, end));
          found++;
        }
        end = i;
      }
      carry = buf.subarray(0, end);
    }
    if (pos === 0 && carry.length > 0 && found < n) out.push(carry.toString("utf8"));
  } finally {
    closeSync(fd);
  }
}
