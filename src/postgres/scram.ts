import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";

const ITERATIONS = 4096;

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password. Beamstalk sends
 * this, never the password, in CREATE ROLE: the server (and its logs) never see
 * the password itself. The password must be ASCII (no SASLprep needed).
 */
export function scramVerifier(password: string, salt: Uint8Array = randomBytes(16)): string {
  if (!/^[\x21-\x7e]+$/.test(password)) throw new Error("scramVerifier: the password must be printable ASCII");
  const salted = pbkdf2Sync(password, salt, ITERATIONS, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
  return `SCRAM-SHA-256$${ITERATIONS}:${b64(salt)}$${b64(storedKey)}:${b64(serverKey)}`;
}
