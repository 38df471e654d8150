import type { Database } from "bun:sqlite";
import { newRecoveryCodes, normalizeRecoveryCode } from "../lib/recovery-codes.ts";
import { Secret } from "../lib/secret.ts";
import { checkTotp, looksLikeTotp, newTotpSecret, type TotpRefusal } from "../lib/totp.ts";
import { type Clock, isoNow } from "./clock.ts";
import type { Cipher } from "./crypto.ts";
import type { Settings } from "./settings.ts";
import { hashToken } from "./tokens.ts";

/** How long a secret shown by `account:mfa:activate` waits for its first code. */
export const ACTIVATION_MINUTES = 10;
const REQUIRED_KEY = "mfa.required";

export interface MfaStatus {
  active: boolean;
  activatedAt: string | null;
  recoveryCodesLeft: number;
}

export type SecondFactorRefusal = TotpRefusal | "not_active" | "no_activation" | "activation_expired";
export type SecondFactorCheck =
  | { ok: true; kind: "totp" | "recovery_code"; recoveryCodesLeft: number }
  | { ok: false; reason: SecondFactorRefusal };

interface MfaRow {
  secret: Uint8Array;
  state: "pending" | "active";
  last_step: number | null;
  created_at: string;
  activated_at: string | null;
}

/**
 * Each account's second factor: a TOTP secret, encrypted with the master key
 * and bound to the account (a secret copied to another row fails to decrypt),
 * and single-use recovery codes stored as SHA-256 hashes. A TOTP code is
 * accepted only for a time step after the last one accepted, and recording that
 * step is one conditional UPDATE, so two requests with one code cannot both win.
 * The server-wide requirement lives in the settings table.
 */
export class Mfa {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly cipher: Cipher,
    private readonly settings: Settings,
  ) {}

  status(userId: number): MfaStatus {
    const row = this.row(userId);
    const active = row?.state === "active";
    return { active, activatedAt: active ? row.activated_at : null, recoveryCodesLeft: active ? this.codesLeft(userId) : 0 };
  }

  /**
   * A new secret waiting for its first code (replacing one that waits), or null
   * when the account's MFA is already on. The clear secret is for the caller to
   * show once.
   */
  begin(userId: number): { secret: Secret; expiresAt: string } | null {
    const secret = newTotpSecret();
    const now = this.clock();
    const result = this.db
      .query(
        `INSERT INTO mfa (user_id, secret, state, last_step, created_at) VALUES (?, ?, 'pending', NULL, ?)
         ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at WHERE mfa.state = 'pending'`,
      )
      .run(userId, this.cipher.encrypt(secret, aad(userId)), now.toISOString());
    if (result.changes !== 1) return null;
    return { secret: new Secret(secret), expiresAt: new Date(now.getTime() + ACTIVATION_MINUTES * 60_000).toISOString() };
  }

  /** Turns MFA on with a first code of the waiting secret; the new recovery codes come back in clear, once. */
  confirm(userId: number, code: string): { ok: true; recoveryCodes: string[] } | { ok: false; reason: SecondFactorRefusal } {
    const row = this.row(userId);
    if (!row || row.state === "active") return { ok: false, reason: "no_activation" };
    if (Date.parse(row.created_at) + ACTIVATION_MINUTES * 60_000 <= this.clock().getTime()) return { ok: false, reason: "activation_expired" };
    const checked = checkTotp({ secret: this.cipher.decrypt(row.secret, aad(userId)), code, nowMs: this.clock().getTime(), lastStep: null });
    if (!checked.ok) return checked;
    return this.db.transaction(() => {
      const done = this.db
        .query("UPDATE mfa SET state = 'active', last_step = ?, activated_at = ? WHERE user_id = ? AND state = 'pending' AND created_at = ?")
        .run(checked.step, isoNow(this.clock), userId, row.created_at);
      if (done.changes !== 1) return { ok: false as const, reason: "no_activation" as const };
      return { ok: true as const, recoveryCodes: this.replaceCodes(userId) };
    })();
  }

  /** Checks a TOTP code or a recovery code of an account whose MFA is on, and uses it up. */
  verify(userId: number, input: string): SecondFactorCheck {
    const row = this.row(userId);
    if (row?.state !== "active") return { ok: false, reason: "not_active" };
    if (looksLikeTotp(input)) {
      const checked = checkTotp({ secret: this.cipher.decrypt(row.secret, aad(userId)), code: input, nowMs: this.clock().getTime(), lastStep: row.last_step });
      if (!checked.ok) return checked;
      const won = this.db
        .query("UPDATE mfa SET last_step = ? WHERE user_id = ? AND state = 'active' AND (last_step IS NULL OR last_step < ?)")
        .run(checked.step, userId, checked.step);
      if (won.changes !== 1) return { ok: false, reason: "replayed" };
      return { ok: true, kind: "totp", recoveryCodesLeft: this.codesLeft(userId) };
    }
    const code = normalizeRecoveryCode(input);
    if (code === null) return { ok: false, reason: "malformed" };
    const used = this.db
      .query("UPDATE mfa_recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL")
      .run(isoNow(this.clock), userId, hashToken(code));
    if (used.changes === 1) return { ok: true, kind: "recovery_code", recoveryCodesLeft: this.codesLeft(userId) };
    const before = this.db.query("SELECT 1 FROM mfa_recovery_codes WHERE user_id = ? AND code_hash = ?").get(userId, hashToken(code));
    return { ok: false, reason: before ? "replayed" : "wrong" };
  }

  /** New recovery codes for an account whose MFA is on; every old one stops working. */
  regenerateRecoveryCodes(userId: number): string[] {
    return this.db.transaction(() => this.replaceCodes(userId))();
  }

  /** Turns MFA off: the secret and the recovery codes are deleted. */
  deactivate(userId: number): void {
    this.db.query("DELETE FROM mfa WHERE user_id = ?").run(userId);
  }

  /** Whether the server requires MFA of every account (`account:mfa:require`). */
  required(): boolean {
    return this.settings.get(REQUIRED_KEY) === "true";
  }

  setRequired(on: boolean): void {
    this.settings.set(REQUIRED_KEY, on ? "true" : "false");
  }

  /** The server requires MFA and this account has not turned it on: its API keys only reach the MFA routes. */
  mustActivate(userId: number): boolean {
    return this.required() && !this.status(userId).active;
  }

  private row(userId: number): MfaRow | null {
    return this.db.query("SELECT secret, state, last_step, created_at, activated_at FROM mfa WHERE user_id = ?").get(userId) as MfaRow | null;
  }

  private codesLeft(userId: number): number {
    return (this.db.query("SELECT count(*) AS n FROM mfa_recovery_codes WHERE user_id = ? AND used_at IS NULL").get(userId) as { n: number }).n;
  }

  /** Call inside a transaction. */
  private replaceCodes(userId: number): string[] {
    const codes = newRecoveryCodes();
    this.db.query("DELETE FROM mfa_recovery_codes WHERE user_id = ?").run(userId);
    const insert = this.db.query("INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES (?, ?)");
    for (const code of codes) insert.run(userId, hashToken(normalizeRecoveryCode(code)!));
    return codes;
  }
}

const aad = (userId: number) => `mfa:${userId}`;
