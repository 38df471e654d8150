import { closeSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";

export interface BuildLogOptions {
  /** A build's file stops growing here (default 8 MiB); the app log still gets every line. */
  maxBytes?: number;
  /** Saved build logs kept per app, newest by version (default 100). */
  keep?: number;
}

/**
 * One build's output. The pipeline calls `line` for each line of output (it also
 * goes to the app log as source "build"), `release(version)` once the release
 * exists (the file becomes `builds/v<N>.log`; later lines, the rollout's, still
 * go into it), and `close()` when the deploy ends. A build that never became a
 * release leaves no file: its lines stay in the app log.
 */
export class BuildLog {
  readonly #dir: string;
  readonly #pending: string;
  readonly #toAppLog: (line: string) => void;
  readonly #maxBytes: number;
  readonly #keep: number;
  #fd: number | null;
  #bytes = 0;
  #cut = false;
  #version: number | null = null;

  constructor(dir: string, toAppLog: (line: string) => void, options: BuildLogOptions = {}) {
    this.#dir = dir;
    this.#toAppLog = toAppLog;
    this.#maxBytes = options.maxBytes ?? 8 * 1024 * 1024;
    this.#keep = options.keep ?? 100;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.#pending = join(dir, `.building-${randomBytes(6).toString("hex")}.log`);
    this.#fd = openSync(this.#pending, "w", 0o600);
  }

  line(text: string): void {
    const line = text.replace(/\r?\n$/, "");
    this.#toAppLog(line);
    if (this.#fd === null || this.#cut) return;
    const bytes = Buffer.from(line + "\n", "utf8");
    if (this.#bytes + bytes.length > this.#maxBytes) {
      this.#cut = true;
      writeSync(this.#fd, `… the build log is cut at ${this.#maxBytes} bytes; the app log has the rest\n`);
      return;
    }
    writeSync(this.#fd, bytes);
    this.#bytes += bytes.length;
  }

  /** Names the file after the release the build made. */
  release(version: number): void {
    if (this.#version !== null || this.#fd === null) return;
    this.#version = version;
    renameSync(this.#pending, join(this.#dir, `v${version}.log`));
    this.#prune();
  }

  close(): void {
    if (this.#fd === null) return;
    closeSync(this.#fd);
    this.#fd = null;
    if (this.#version === null) rmSync(this.#pending, { force: true });
  }

  #prune(): void {
    const saved = readdirSync(this.#dir)
      .map((name) => /^v(\d+)\.log$/.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => b - a);
    for (const version of saved.slice(this.#keep)) rmSync(join(this.#dir, `v${version}.log`), { force: true });
  }
}
