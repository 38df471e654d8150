import { createHash, randomBytes } from "node:crypto";

/** A random bearer token with a readable prefix, e.g. `bsk_…` for API keys. */
export function newToken(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString("base64url")}`;
}

/**
 * Tokens are 256 random bits, so a plain SHA-256 is enough to store them
 * (no salt or slow hash needed, unlike passwords) and it allows lookup by hash.
 */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}
