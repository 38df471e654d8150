import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backupKey, encryptor, isEncrypted, plainStream } from "./backup-cipher.ts";

const dir = mkdtempSync(join(tmpdir(), "beamstalk-backup-cipher-"));
const key = backupKey(new Uint8Array(32).fill(7));

function seal(name: string, plain: Buffer, k = key): string {
  const e = encryptor(k);
  const parts: Uint8Array[] = [e.head];
  for (let i = 0; i < plain.length; i += 1000) parts.push(e.update(plain.subarray(i, i + 1000)));
  parts.push(e.final());
  const file = join(dir, name);
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

const read = async (stream: ReadableStream<Uint8Array>) => Buffer.from(await new Response(stream).arrayBuffer());

describe("backups at rest", () => {
  const archive = Buffer.concat([Buffer.from("PGDMP"), Buffer.from("row: secret customer 4242\n".repeat(2000))]);

  test("encrypted under a key derived from the master key: no plaintext on disk, and it reads back whole", async () => {
    const file = seal("a.dump", archive);
    const stored = readFileSync(file);
    expect(stored.includes(Buffer.from("secret customer"))).toBe(false);
    expect(stored.includes(Buffer.from("PGDMP"))).toBe(false);
    expect(await isEncrypted(file)).toBe(true);
    expect((await read(plainStream(file, key))).equals(archive)).toBe(true);
    expect(backupKey(new Uint8Array(32).fill(7)).equals(key)).toBe(true);
    expect(backupKey(new Uint8Array(32).fill(8)).equals(key)).toBe(false);
  });

  test("a changed byte, a cut-off file or another key fails at the tag instead of restoring something else", async () => {
    const file = seal("b.dump", archive);
    const changed = readFileSync(file);
    changed[changed.length >> 1] = changed[changed.length >> 1]! ^ 1;
    writeFileSync(join(dir, "changed.dump"), changed);
    await expect(read(plainStream(join(dir, "changed.dump"), key))).rejects.toThrow("does not match its tag");
    writeFileSync(join(dir, "cut.dump"), readFileSync(file).subarray(0, 30));
    await expect(read(plainStream(join(dir, "cut.dump"), key))).rejects.toThrow();
    await expect(read(plainStream(file, backupKey(new Uint8Array(32).fill(9))))).rejects.toThrow("does not match its tag");
    await expect(read(plainStream(file, null))).rejects.toThrow("encrypted and this server has no key");
  });

  test("a backup taken before encryption (a plain pg_dump archive) still reads as it is", async () => {
    const file = join(dir, "old.dump");
    writeFileSync(file, archive);
    expect(await isEncrypted(file)).toBe(false);
    expect((await read(plainStream(file, key))).equals(archive)).toBe(true);
  });
});
