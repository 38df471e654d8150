import { describe, expect, test } from "bun:test";
import { URI } from "otpauth";
import { normalizeRecoveryCode, newRecoveryCodes } from "./recovery-codes.ts";
import { checkTotp, newTotpSecret, otpauthUri, totpCode, totpStep } from "./totp.ts";

/** RFC 6238 Appendix B: the seeds are the ASCII digits 1234567890 repeated to the hash's length. */
const seed = (bytes: number) => new TextEncoder().encode("1234567890".repeat(7).slice(0, bytes));
const SEEDS = { SHA1: seed(20), SHA256: seed(32), SHA512: seed(64) } as const;
const VECTORS: [seconds: number, sha1: string, sha256: string, sha512: string][] = [
  [59, "94287082", "46119246", "90693936"],
  [1111111109, "07081804", "68084774", "25091201"],
  [1111111111, "14050471", "67062674", "99943326"],
  [1234567890, "89005924", "91819424", "93441116"],
  [2000000000, "69279037", "90698825", "38618901"],
  [20000000000, "65353130", "77737706", "47863826"],
];

describe("RFC 6238 test vectors", () => {
  for (const [seconds, ...codes] of VECTORS) {
    test(`T = ${seconds} s`, () => {
      const step = totpStep(seconds * 1000);
      (["SHA1", "SHA256", "SHA512"] as const).forEach((algorithm, i) => {
        expect(totpCode(SEEDS[algorithm], step, { digits: 8, algorithm })).toBe(codes[i]!);
      });
      // What apps show: the same truncation, 6 digits (the 8-digit value mod 10^6).
      expect(totpCode(SEEDS.SHA1, step)).toBe(codes[0]!.slice(2));
    });
  }

  test("the step of the vectors' times (RFC 6238's T column)", () => {
    expect(totpStep(59_000)).toBe(1);
    expect(totpStep(1111111109_000).toString(16)).toBe("23523ec");
    expect(totpStep(20000000000_000).toString(16)).toBe("27bc86aa");
  });
});

describe("checkTotp", () => {
  const secret = newTotpSecret();
  const now = 1_800_000_000_000 + 10_000; // 10 s into a step
  const step = totpStep(now);
  const at = (s: number) => totpCode(secret, s);
  const check = (code: string, lastStep: number | null = null) => checkTotp({ secret, code, nowMs: now, lastStep });

  test("the current code, the previous one and the next one are accepted, with their step", () => {
    expect(check(at(step))).toEqual({ ok: true, step });
    expect(check(at(step - 1))).toEqual({ ok: true, step: step - 1 });
    expect(check(at(step + 1))).toEqual({ ok: true, step: step + 1 });
    expect(check(at(step).replace(/^(\d{3})/, "$1 "))).toEqual({ ok: true, step });
  });

  test("a code of a step already used, or older than one used, is a replay", () => {
    expect(check(at(step), step)).toEqual({ ok: false, reason: "replayed" });
    expect(check(at(step - 1), step)).toEqual({ ok: false, reason: "replayed" });
    expect(check(at(step + 1), step)).toEqual({ ok: true, step: step + 1 });
  });

  test("codes further away are expired or early; others are wrong; non-codes are malformed", () => {
    expect(check(at(step - 2))).toEqual({ ok: false, reason: "expired" });
    expect(check(at(step - 10))).toEqual({ ok: false, reason: "expired" });
    expect(check(at(step + 2))).toEqual({ ok: false, reason: "early" });
    const near = new Set(Array.from({ length: 41 }, (_, i) => at(step - 20 + i)));
    const wrong = ["000000", "123456", "999999", "314159"].find((c) => !near.has(c))!;
    expect(check(wrong)).toEqual({ ok: false, reason: "wrong" });
    for (const bad of ["", "12345", "1234567", "12a456", "١٢٣٤٥٦", "123456\n7"]) expect(check(bad)).toEqual({ ok: false, reason: "malformed" });
  });

  test("the accepted window follows the clock: 30 s steps", () => {
    const code = at(step);
    const start = step * 30_000;
    expect(checkTotp({ secret, code, nowMs: start + 30_000 + 29_999, lastStep: null })).toEqual({ ok: true, step }); // one step later
    expect(checkTotp({ secret, code, nowMs: start + 60_000, lastStep: null })).toEqual({ ok: false, reason: "expired" });
    expect(checkTotp({ secret, code, nowMs: start - 30_000, lastStep: null })).toEqual({ ok: true, step });
    expect(checkTotp({ secret, code, nowMs: start - 30_001, lastStep: null })).toEqual({ ok: false, reason: "early" });
  });
});

test("the otpauth URI is what apps read: SHA1, 6 digits, 30 s, issuer, and the secret a phone computes the same codes from", () => {
  const secret = newTotpSecret();
  expect(secret).toMatch(/^[A-Z2-7]{32}$/); // 160 bits
  const uri = otpauthUri(secret, "dev@example.com");
  expect(uri).toStartWith("otpauth://totp/Beamstalk:dev%40example.com?");
  const params = new URL(uri).searchParams;
  expect(Object.fromEntries(params)).toEqual({ issuer: "Beamstalk", secret, algorithm: "SHA1", digits: "6", period: "30" });
  const phone = URI.parse(uri);
  expect(phone.generate({ timestamp: 1_700_000_000_000 })).toBe(totpCode(secret, totpStep(1_700_000_000_000)));
});

test("recovery codes: 10 distinct codes of 80 bits, read with or without dashes, in any case", () => {
  const codes = newRecoveryCodes();
  expect(codes).toHaveLength(10);
  expect(new Set(codes).size).toBe(10);
  for (const code of codes) expect(code).toMatch(/^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/);
  const raw = codes[0]!.replaceAll("-", "");
  expect(normalizeRecoveryCode(codes[0]!)).toBe(raw);
  expect(normalizeRecoveryCode(` ${codes[0]!.toUpperCase()} `)).toBe(raw);
  expect(normalizeRecoveryCode(raw)).toBe(raw);
  for (const bad of ["", "123456", raw.slice(1), raw + "a", raw.slice(1) + "0", raw.slice(1) + "!"]) expect(normalizeRecoveryCode(bad)).toBeNull();
});
