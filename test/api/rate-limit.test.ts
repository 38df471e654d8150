import { afterEach, expect, test } from "bun:test";
import { defaultThrottle } from "../../src/api/throttle.ts";
import { testApi } from "../support/api.ts";

let t: ReturnType<typeof testApi>;
afterEach(() => t?.close());

/** An API whose rate limits run on a clock the test moves. */
function clockedApi() {
  let now = 1_000_000;
  t = testApi({ throttle: defaultThrottle(() => now) });
  return { t, advance: (ms: number) => void (now += ms) };
}

const from = (clientIp: string) => ({ env: { transport: "tcp" as const, clientIp } });

test("wrong passwords for one account: 5 are answered, then 429 with Retry-After, even for the right one, until a minute has passed", async () => {
  const { t, advance } = clockedApi();
  await t.admin("owner@example.com");
  for (let i = 0; i < 5; i++) {
    const res = await t.call("POST", "/api/login", { body: { email: "owner@example.com", password: `guess ${i}` }, ...from(`10.0.0.${i}`) });
    expect(res.status).toBe(401);
  }
  // From another address, with the right password: the account waits (the guesser cannot tell a hit from a miss).
  const limited = await t.api.request("/api/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email: "owner@example.com", password: "correct horse" }) }, { transport: "tcp", clientIp: "192.0.2.7" });
  expect(limited.status).toBe(429);
  const retryAfter = Number(limited.headers.get("retry-after"));
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(((await limited.json()) as { error: { code: string } }).error.code).toBe("rate_limited");
  // Another account is not affected.
  expect((await t.call("POST", "/api/login", { body: { email: "other@example.com", password: "x" }, ...from("192.0.2.7") })).status).toBe(401);
  // The stated bound: after 60 s the real user gets in.
  advance(60_000);
  expect((await t.call("POST", "/api/login", { body: { email: "owner@example.com", password: "correct horse" }, ...from("192.0.2.7") })).status).toBe(200);
});

test("one address trying many accounts is limited after 10 failures for 6 s; other addresses and the local socket are not", async () => {
  const { t, advance } = clockedApi();
  await t.admin("owner@example.com");
  for (let i = 0; i < 10; i++) {
    expect((await t.call("POST", "/api/login", { body: { email: `u${i}@example.com`, password: "x" }, ...from("203.0.113.9") })).status).toBe(401);
  }
  expect((await t.call("POST", "/api/login", { body: { email: "owner@example.com", password: "correct horse" }, ...from("203.0.113.9") })).status).toBe(429);
  expect((await t.call("POST", "/api/login", { body: { email: "owner@example.com", password: "correct horse" }, ...from("203.0.113.10") })).status).toBe(200);
  expect((await t.call("POST", "/api/login", { body: { email: "owner@example.com", password: "correct horse" }, env: { transport: "unix" } })).status).toBe(200);
  advance(6_000);
  expect((await t.call("POST", "/api/login", { body: { email: "owner@example.com", password: "correct horse" }, ...from("203.0.113.9") })).status).toBe(200);
});

test("successful logins take nothing from the bucket", async () => {
  const { t } = clockedApi();
  await t.admin("owner@example.com");
  for (let i = 0; i < 30; i++) {
    expect((await t.call("POST", "/api/login", { body: { email: "owner@example.com", password: "correct horse" }, ...from("198.51.100.1") })).status).toBe(200);
  }
});

test("refused signups and invite codes count: the 11th from one address is 429", async () => {
  const { t } = clockedApi();
  const admin = await t.admin();
  await t.call("POST", "/api/invites", { key: admin, body: { email: "dev@example.com" } });
  for (let i = 0; i < 10; i++) {
    const res = await t.call("POST", "/api/signup", { body: { email: `dev${i}@example.com`, password: "correct horse", invite: `bsi_guess${i}` }, ...from("198.51.100.2") });
    expect(res.status).toBe(403);
  }
  const res = await t.call("POST", "/api/signup", { body: { email: "dev@example.com", password: "correct horse", invite: "bsi_guess" }, ...from("198.51.100.2") });
  expect(res.status).toBe(429);
});

test("API keys that are not valid: 30 from one address, then 429 for 2 s; a valid key from elsewhere works", async () => {
  const { t, advance } = clockedApi();
  const admin = await t.admin();
  for (let i = 0; i < 30; i++) expect((await t.call("GET", "/api/apps", { key: `bsk_wrong${i}`, ...from("192.0.2.50") })).status).toBe(401);
  const limited = await t.call("GET", "/api/apps", { key: admin, ...from("192.0.2.50") });
  expect(limited.status).toBe(429);
  expect((await t.call("GET", "/api/apps", { key: admin, ...from("192.0.2.51") })).status).toBe(200);
  advance(2_000);
  expect((await t.call("GET", "/api/apps", { key: admin, ...from("192.0.2.50") })).status).toBe(200);
});

test("a wrong current password when changing it counts against the account", async () => {
  const { t } = clockedApi();
  const admin = await t.admin("owner@example.com");
  for (let i = 0; i < 5; i++) {
    const res = await t.call("POST", "/api/account/password", { key: admin, body: { current_password: `nope ${i}`, new_password: "new password here" }, ...from(`10.1.0.${i}`) });
    expect(res.status).toBe(401);
  }
  const res = await t.call("POST", "/api/account/password", { key: admin, body: { current_password: "correct horse", new_password: "new password here" }, ...from("10.1.0.99") });
  expect(res.status).toBe(429);
});
