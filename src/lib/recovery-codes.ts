import { randomInt } from "node:crypto";

/**
 * Recovery codes: each works once in place of a TOTP code, for when the phone
 * is lost. 16 characters of base32 (80 random bits) shown as four groups,
 * e.g. `k7qm-2xha-w4be-tz6n`: enough entropy that a plain SHA-256 of the code is
 * a safe thing to store (as for API keys, state/tokens.ts), and short enough
 * to type. Letters are lower case; input is read case-insensitively, with or
 * without the dashes.
 */
export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
const LENGTH = 16;

export function newRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  return Array.from({ length: count }, () => {
    let raw = "";
    for (let i = 0; i < LENGTH; i++) raw += ALPHABET[randomInt(ALPHABET.length)];
    return raw.match(/.{4}/g)!.join("-");
  });
}

/** The canonical form (lower case, no dashes or spaces) of what looks like a recovery code; null otherwise. */
export function normalizeRecoveryCode(input: string): string | null {
  const raw = input.toLowerCase().replace(/[\s-]+/g, "");
  return raw.length === LENGTH && [...raw].every((ch) => ALPHABET.includes(ch)) ? raw : null;
}
