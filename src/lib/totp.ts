import { timingSafeEqual } from "node:crypto";
import { HOTP, Secret, TOTP } from "otpauth";

/**
 * Time-based one-time passwords (RFC 6238) as every authenticator app expects
 * them: HMAC-SHA-1, 6 digits, a 30 s period, the RFC 4226 truncation (done by
 * the `otpauth` package). What this file adds is the policy: which time steps
 * are accepted, and why a code that is not accepted was refused.
 */
export const TOTP_DIGITS = 6;
export const TOTP_PERIOD_SECONDS = 30;
/** RFC 4226 §4 asks for at least 128 bits and recommends 160: the length of a SHA-1 output. */
const SECRET_BYTES = 20;
/** Steps either side of now that are accepted (RFC 6238 §5.2: one step back for transmission delay, one ahead for a fast phone). */
const ACCEPT_STEPS = 1;
/** Steps either side that are recognised, but refused with a clearer reason than "wrong". */
const RECOGNISE_STEPS = 10;

export type Algorithm = "SHA1" | "SHA256" | "SHA512";

/** A new random secret, in base32 (what otpauth:// URIs and authenticator apps take). */
export function newTotpSecret(): string {
  return new Secret({ size: SECRET_BYTES }).base32;
}

/** The otpauth:// URI an authenticator app reads from the QR code. */
export function otpauthUri(secretBase32: string, account: string, issuer = "Beamstalk"): string {
  return new TOTP({
    issuer,
    label: account,
    secret: Secret.fromBase32(secretBase32),
    algorithm: "SHA1",
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
  }).toString();
}

/** The time step (T in RFC 6238) a moment falls in. */
export function totpStep(nowMs: number, periodSeconds = TOTP_PERIOD_SECONDS): number {
  return Math.floor(nowMs / 1000 / periodSeconds);
}

/** The code for one time step. The options exist for RFC 6238's test vectors (8 digits, SHA-256/512). */
export function totpCode(secret: string | Uint8Array, step: number, options: { digits?: number; algorithm?: Algorithm } = {}): string {
  return HOTP.generate({
    secret: typeof secret === "string" ? Secret.fromBase32(secret) : new Secret({ buffer: Uint8Array.from(secret).buffer }),
    counter: step,
    digits: options.digits ?? TOTP_DIGITS,
    algorithm: options.algorithm ?? "SHA1",
  });
}

export type TotpRefusal = "malformed" | "wrong" | "replayed" | "expired" | "early";
export type TotpCheck = { ok: true; step: number } | { ok: false; reason: TotpRefusal };

/** `123456` or `123 456`: six digits, spaces allowed (apps show them grouped). */
export function looksLikeTotp(input: string): boolean {
  return /^\d{6}$/.test(input.replace(/\s+/g, ""));
}

/**
 * Checks a code against the secret at `nowMs`. A code is accepted for the
 * current step or one either side, and only for a step after `lastStep` (the
 * last one accepted for the account), so a code works once. The caller records
 * the returned step (atomically: see state/mfa.ts). A code of a step further
 * away, up to 10 steps (5 minutes), is refused as expired or early, so that a
 * phone whose clock is off gets a reason; anything else is wrong.
 */
export function checkTotp(input: { secret: string; code: string; nowMs: number; lastStep: number | null }): TotpCheck {
  const code = input.code.replace(/\s+/g, "");
  if (!looksLikeTotp(code)) return { ok: false, reason: "malformed" };
  const now = totpStep(input.nowMs);
  const matches = (step: number) => timingSafeEqual(Buffer.from(totpCode(input.secret, step)), Buffer.from(code));
  let accepted: number | null = null;
  for (let step = now - ACCEPT_STEPS; step <= now + ACCEPT_STEPS; step++) if (matches(step)) accepted = step;
  if (accepted !== null) {
    return input.lastStep !== null && accepted <= input.lastStep ? { ok: false, reason: "replayed" } : { ok: true, step: accepted };
  }
  for (let distance = ACCEPT_STEPS + 1; distance <= RECOGNISE_STEPS; distance++) {
    if (matches(now - distance)) return { ok: false, reason: "expired" };
    if (matches(now + distance)) return { ok: false, reason: "early" };
  }
  return { ok: false, reason: "wrong" };
}
