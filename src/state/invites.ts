import type { Database } from "bun:sqlite";
import { type Clock, addDays, isoNow } from "./clock.ts";
import { hashToken, newToken } from "./tokens.ts";

export const INVITE_DAYS = 7;

export class Invites {
  constructor(private readonly db: Database, private readonly clock: Clock) {}

  create(email: string, createdBy: number): { code: string; expiresAt: string } {
    const code = newToken("bsi");
    const expiresAt = addDays(this.clock(), INVITE_DAYS).toISOString();
    this.db
      .query("INSERT INTO invites (email, code_hash, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
      .run(email, hashToken(code), createdBy, isoNow(this.clock), expiresAt);
    return { code, expiresAt };
  }

  /** Marks the invite used if it is for this email, unused and unexpired. Call inside the signup transaction. */
  consume(code: string, email: string): boolean {
    const result = this.db
      .query("UPDATE invites SET used_at = ? WHERE code_hash = ? AND email = ? AND used_at IS NULL AND expires_at > ?")
      .run(isoNow(this.clock), hashToken(code), email, isoNow(this.clock));
    return result.changes === 1;
  }
}
