import { describe, expect, test } from "bun:test";
import { createHmac, hkdfSync } from "node:crypto";
import { Secret } from "../lib/secret.ts";
import { SlugTokens } from "./slug-tokens.ts";

describe("SlugTokens", () => {
  const key = Buffer.alloc(32, 7);
  const tokens = new SlugTokens(key);
  const web = { id: 3, name: "web" };

  test("a token is HMAC-SHA256 over slug:<app>:<app id>:<release> with an HKDF key from master.key, base64url", () => {
    const derived = Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), "beamstalk slug tokens v1", 32));
    const want = createHmac("sha256", derived).update("slug:web:3:7").digest("base64url");
    expect(tokens.tokenFor(web, 7).reveal()).toBe(want);
    expect(want).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Stateless: another instance over the same master key (a restarted daemon) gives the same token.
    expect(new SlugTokens(Buffer.alloc(32, 7)).tokenFor(web, 7).reveal()).toBe(want);
  });

  test("is a Secret: it never prints", () => {
    const token = tokens.tokenFor(web, 1);
    expect(`${token}`).toBe("[REDACTED]");
    expect(JSON.stringify({ token })).toBe('{"token":"[REDACTED]"}');
  });

  test("matches its own release only", () => {
    const token = tokens.tokenFor(web, 7);
    expect(tokens.matches(web, 7, token)).toBe(true);
    expect(tokens.matches(web, 8, token)).toBe(false);
    expect(tokens.matches({ id: 3, name: "api" }, 7, token)).toBe(false);
    // A new app under a destroyed one's name has another id.
    expect(tokens.matches({ id: 4, name: "web" }, 7, token)).toBe(false);
    expect(new SlugTokens(Buffer.alloc(32, 8)).matches(web, 7, token)).toBe(false);
  });

  test("refuses altered, truncated, padded and empty tokens", () => {
    const good = tokens.tokenFor(web, 7).reveal();
    const flipped = (good[0] === "A" ? "B" : "A") + good.slice(1);
    for (const bad of [flipped, good.slice(0, -1), `${good}=`, `${good} `, "", "é".repeat(43)]) {
      expect(tokens.matches(web, 7, new Secret(bad))).toBe(false);
    }
  });

  test("needs a 32-byte master key", () => {
    expect(() => new SlugTokens(Buffer.alloc(16))).toThrow(/32 bytes/);
  });
});
