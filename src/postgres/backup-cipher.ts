import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

/**
 * Backups at rest: AES-256-GCM under a key derived from the master key (HKDF,
 * its own label, so a backup key is never the state's key). A file is
 * MAGIC, a 12-byte IV, the ciphertext, and the 16-byte tag. Backups taken
 * before encryption (a plain pg_dump archive, "PGDMP…") still restore.
 */
const MAGIC = Buffer.from("BSTKBK1\n");
const IV_BYTES = 12;
const TAG_BYTES = 16;

export function backupKey(masterKey: Uint8Array): Buffer {
  return Buffer.from(hkdfSync("sha256", masterKey, Buffer.alloc(0), "beamstalk postgres backups v1", 32));
}

/** Encrypts chunk by chunk as pg_dump streams; `final()` gives the tail and tag. */
export function encryptor(key: Buffer) {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  return {
    head: Buffer.concat([MAGIC, iv]),
    update: (chunk: Uint8Array) => cipher.update(chunk),
    final: () => Buffer.concat([cipher.final(), cipher.getAuthTag()]),
  };
}

/**
 * The plain archive of a backup file, streamed. An encrypted one is checked
 * against its tag at the end: a file changed or cut short errors there, after
 * whatever read it got the bytes (a restore runs in one transaction and is
 * ended before it commits; sha256 is checked before anyway).
 */
export function plainStream(file: string, key: Buffer | null): ReadableStream<Uint8Array> {
  const chunks = plainChunks(file, key);
  // Pulled as the reader takes them (pg_restore's stdin): nothing large is buffered.
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await chunks.next();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (err) {
        controller.error(err instanceof Error && /auth/i.test(err.message) ? new Error("the backup file does not match its tag: it was changed or cut short") : err);
      }
    },
    async cancel() {
      await chunks.return(undefined);
    },
  });
}

async function* plainChunks(file: string, key: Buffer | null): AsyncGenerator<Uint8Array> {
  const source = Bun.file(file);
  const size = source.size;
  const head = Buffer.from(await source.slice(0, MAGIC.length).arrayBuffer());
  if (!head.equals(MAGIC)) {
    // Taken before backups were encrypted: the archive as it is.
    yield* source.stream();
    return;
  }
  if (!key) throw new Error("the backup is encrypted and this server has no key for it");
  if (size < MAGIC.length + IV_BYTES + TAG_BYTES) throw new Error("the backup file is cut short");
  const iv = Buffer.from(await source.slice(MAGIC.length, MAGIC.length + IV_BYTES).arrayBuffer());
  const decipher = createDecipheriv("aes-256-gcm", key, iv);
  decipher.setAuthTag(Buffer.from(await source.slice(size - TAG_BYTES).arrayBuffer()));
  for await (const chunk of source.slice(MAGIC.length + IV_BYTES, size - TAG_BYTES).stream()) {
    const plain = decipher.update(chunk);
    if (plain.length > 0) yield plain;
  }
  const last = decipher.final();
  if (last.length > 0) yield last;
}

/** Whether a backup file is encrypted (for tests and `pg:backups`). */
export async function isEncrypted(file: string): Promise<boolean> {
  return Buffer.from(await Bun.file(file).slice(0, MAGIC.length).arrayBuffer()).equals(MAGIC);
}
