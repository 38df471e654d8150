import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { Cipher } from "./crypto.ts";

describe("Cipher (AES-256-GCM)", () => {
  const cipher = new Cipher(randomBytes(32));

  test("round-trips a value and never stores it in clear", () => {
    const sealed = cipher.encrypt("postgres://user:hunter2@db/app", "config:web:DATABASE_URL");
    expect(Buffer.from(sealed).includes(Buffer.from("hunter2"))).toBe(false);
    expect(cipher.decrypt(sealed, "config:web:DATABASE_URL")).toBe("postgres://user:hunter2@db/app");
  });

  test("uses a fresh IV each time", () => {
    const a = cipher.encrypt("same", "x");
    const b = cipher.encrypt("same", "x");
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });

  test("a value moved to another row (other associated data) does not decrypt", () => {
    const sealed = cipher.encrypt("secret", "config:web:A");
    expect(() => cipher.decrypt(sealed, "config:other:A")).toThrow(/master.key does not match/);
  });

  test("a tampered ciphertext does not decrypt", () => {
    const sealed = Buffer.from(cipher.encrypt("secret", "a"));
    sealed[sealed.length - 1]! ^= 1;
    expect(() => cipher.decrypt(sealed, "a")).toThrow();
  });

  test("another master key cannot decrypt", () => {
    const sealed = cipher.encrypt("secret", "a");
    expect(() => new Cipher(randomBytes(32)).decrypt(sealed, "a")).toThrow(/master.key does not match/);
  });

  test("refuses a key that is not 32 bytes", () => {
    expect(() => new Cipher(randomBytes(16))).toThrow(/32 bytes/);
  });
});
