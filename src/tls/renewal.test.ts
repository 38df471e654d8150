import { describe, expect, test } from "bun:test";
import { renewAt, retryDelay } from "./renewal.ts";
import { redirectToHttps } from "./redirect.ts";
import { Challenges } from "./challenges.ts";

describe("renewal schedule", () => {
  test("renews at two thirds of the lifetime", () => {
    const from = new Date("2026-01-01T00:00:00Z");
    expect(renewAt(from, new Date("2026-04-01T00:00:00Z")).toISOString()).toBe("2026-03-02T00:00:00.000Z");
    expect(renewAt(from, new Date(from.getTime() + 90_000)).getTime() - from.getTime()).toBe(60_000);
  });

  test("backs off exponentially from the minimum, capped", () => {
    const b = { minMs: 1_000, maxMs: 8_000 };
    expect([1, 2, 3, 4, 5, 50].map((n) => retryDelay(n, b))).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
    expect(retryDelay(1)).toBe(60_000);
    expect(retryDelay(20)).toBe(6 * 3_600_000);
  });
});

describe("HTTP front", () => {
  const req = (url: string, host: string) => new Request(url, { headers: { host } });
  test("308 to HTTPS only for host names with a certificate, keeping path and query", () => {
    const secured = new Set(["www.example.com"]);
    const res = redirectToHttps(req("http://www.example.com/a?b=1", "WWW.example.com:80"), secured, 443)!;
    expect(res.status).toBe(308);
    expect(res.headers.get("location")).toBe("https://www.example.com/a?b=1");
    expect(redirectToHttps(req("http://www.example.com/", "www.example.com"), secured, 8443)!.headers.get("location")).toBe("https://www.example.com:8443/");
    expect(redirectToHttps(req("http://other.example.com/", "other.example.com"), secured, 443)).toBeNull();
    expect(redirectToHttps(req("http://www.example.com/.well-known/acme-challenge/x", "www.example.com"), secured, 443)).toBeNull();
  });

  test("challenges answer known tokens only", async () => {
    const c = new Challenges();
    c.set("tok", "tok.thumb");
    expect(await c.respond(req("http://a.example.com/.well-known/acme-challenge/tok", "a.example.com"))!.text()).toBe("tok.thumb");
    expect(c.respond(req("http://a.example.com/.well-known/acme-challenge/nope", "a.example.com"))!.status).toBe(404);
    expect(c.respond(req("http://a.example.com/other", "a.example.com"))).toBeNull();
    c.delete("tok");
    expect(c.respond(req("http://a.example.com/.well-known/acme-challenge/tok", "a.example.com"))!.status).toBe(404);
  });
});
