import { createHash } from "node:crypto";
import { mkdirSync, openSync, closeSync, fsyncSync, renameSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { dirname } from "node:path";
import { dumpArgv, listArgv, restoreArgv } from "./spec.ts";
import { encryptor, plainStream } from "./backup-cipher.ts";
import { type Engine, tail } from "./server.ts";

export interface DumpResult {
  size: number;
  sha256: string;
  /** Entries in the archive's table of contents (pg_restore --list). */
  entries: number;
}

/**
 * pg_dump -Fc inside the database container (on whichever host holds it),
 * streamed to `<file>.partial`
 * while it is hashed, fsynced, then renamed into place. The archive is read
 * back with pg_restore --list before it counts as a backup.
 */
export async function dumpTo(engine: Engine, app: string, file: string, key: Buffer | null = null): Promise<DumpResult> {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const partial = `${file}.partial`;
  const handle = await open(partial, "w", 0o600);
  const hash = createHash("sha256");
  let size = 0;
  try {
    const proc = engine.start(dumpArgv(app), { stdout: "pipe", stderr: "pipe" });
    const stderr = new Response(proc.stderr).text();
    // At rest under the backup key (backup-cipher.ts); the sha256 is of the file as stored.
    const seal = key ? encryptor(key) : null;
    const write = async (bytes: Uint8Array) => {
      if (bytes.length === 0) return;
      hash.update(bytes);
      size += bytes.length;
      await handle.write(bytes);
    };
    if (seal) await write(seal.head);
    let plain = 0;
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
      plain += chunk.length;
      await write(seal ? seal.update(chunk) : chunk);
    }
    if (seal) await write(seal.final());
    const code = await proc.exited;
    if (code !== 0) throw new Error(`pg_dump failed (exit ${code}): ${tail(await stderr)}`);
    if (plain === 0) throw new Error("pg_dump wrote nothing");
    await handle.sync();
  } catch (err) {
    await handle.close();
    rmSync(partial, { force: true });
    throw err;
  }
  await handle.close();
  renameSync(partial, file);
  syncDir(dirname(file));
  const entries = await listEntries(engine, app, file, key).catch((err) => {
    rmSync(file, { force: true });
    throw err;
  });
  return { size, sha256: hash.digest("hex"), entries };
}

/** pg_restore --list over the file: a truncated or corrupt archive fails here. */
export async function listEntries(engine: Engine, app: string, file: string, key: Buffer | null = null): Promise<number> {
  const proc = engine.start(listArgv(app), { stdin: plainStream(file, key), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`the archive does not read back (pg_restore --list, exit ${code}): ${tail(err)}`);
  return out.split("\n").filter((line) => line.trim() !== "" && !line.startsWith(";")).length;
}

export async function sha256Of(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of Bun.file(file).stream()) hash.update(chunk);
  return hash.digest("hex");
}

/** pg_restore --clean --if-exists --single-transaction from the file: all of it, or nothing. */
export async function restoreFrom(engine: Engine, app: string, file: string, key: Buffer | null = null): Promise<void> {
  const proc = engine.start(restoreArgv(app), { stdin: plainStream(file, key), stdout: "pipe", stderr: "pipe" });
  const [, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`pg_restore failed (exit ${code}); nothing was changed: ${tail(err)}`);
}

function syncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
