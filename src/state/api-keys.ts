import type { Database } from "bun:sqlite";
import { type Clock, addDays, isoNow } from "./clock.ts";
import { hashToken, newToken } from "./tokens.ts";

export const API_KEY_DAYS = 365;

export type KeyLookup =
  | { status: "valid"; userId: number; keyId: number }
  | { status: "expired" }
  | { status: "unknown" };

/** API keys are stored as SHA-256 hashes; the clear key exists only in the response that issues it. */
export class ApiKeys {
  constructor(private readonly db: Database, private readonly clock: Clock) {}

  issue(userId: number): { key: string; expiresAt: string } {
    const key = newToken("bsk");
    const expiresAt = addDays(this.clock(), API_KEY_DAYS).toISOString();
    this.db
      .query("INSERT INTO api_keys (user_id, key_hash, created_at, expires_at) VALUES (?, ?, ?, ?)")
      .run(userId, hashToken(key), isoNow(this.clock), expiresAt);
    return { key, expiresAt };
  }

  lookup(key: string): KeyLookup {
    const row = this.db
      .query("SELECT id, user_id, expires_at FROM api_keys WHERE key_hash = ?")
      .get(hashToken(key)) as { id: number; user_id: number; expires_at: string } | null;
    if (!row) return { status: "unknown" };
    if (row.expires_at <= isoNow(this.clock)) return { status: "expired" };
    return { status: "valid", userId: row.user_id, keyId: row.id };
  }

  revoke(keyId: number): void {
    this.db.query("DELETE FROM api_keys WHERE id = ?").run(keyId);
  }

  /** Revokes every key of the user and issues one new key, atomically. */
  reset(userId: number): { key: string; expiresAt: string } {
    return this.db.transaction(() => {
      this.db.query("DELETE FROM api_keys WHERE user_id = ?").run(userId);
      return this.issue(userId);
    })();
  }
}
