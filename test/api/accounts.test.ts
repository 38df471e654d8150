import { afterEach, describe, expect, test } from "bun:test";
import { SETUP_TOKEN, testApi } from "../support/api.ts";

let t: ReturnType<typeof testApi>;
afterEach(() => t?.close());

describe("signup", () => {
  test("the first account needs the setup token over TCP and becomes admin; the token works once", async () => {
    t = testApi();
    const none = await t.call("POST", "/api/signup", { body: { email: "a@example.com", password: "correct horse" } });
    expect(none.status).toBe(403);
    expect(none.body.error.message).toMatch(/setup token/);
    expect(none.body.error.hint).toContain("setup-token");
    const wrong = await t.call("POST", "/api/signup", { body: { email: "a@example.com", password: "correct horse", setup_token: "bst_nope" } });
    expect(wrong.status).toBe(403);
    expect(t.state.users.count()).toBe(0);

    const ok = await t.call("POST", "/api/signup", { body: { email: "A@Example.com", password: "correct horse", setup_token: SETUP_TOKEN } });
    expect(ok.status).toBe(201);
    expect(ok.body.user).toMatchObject({ email: "a@example.com", admin: true });
    expect(ok.body.api_key).toMatch(/^bsk_/);

    const again = await t.call("POST", "/api/signup", { body: { email: "b@example.com", password: "correct horse", setup_token: SETUP_TOKEN } });
    expect(again.status).toBe(403);
    expect(again.body.error.message).toBe("signing up needs an invite");
  });

  test("over the local unix socket the first account needs no token", async () => {
    t = testApi();
    const res = await t.call("POST", "/api/signup", { body: { email: "root@example.com", password: "correct horse" }, env: { transport: "unix" } });
    expect(res.status).toBe(201);
    expect(res.body.user.admin).toBe(true);
  });

  test("later accounts need an invite for their own email, used once", async () => {
    t = testApi();
    const admin = await t.admin();
    const invite = await t.call("POST", "/api/invites", { key: admin, body: { email: "dev@example.com" } });
    expect(invite.status).toBe(201);
    const code = invite.body.code;

    const other = await t.call("POST", "/api/signup", { body: { email: "eve@example.com", password: "correct horse", invite: code } });
    expect(other.status).toBe(403);
    expect(other.body.error.message).toMatch(/not valid for this email/);

    const ok = await t.call("POST", "/api/signup", { body: { email: "dev@example.com", password: "correct horse", invite: code } });
    expect(ok.status).toBe(201);
    expect(ok.body.user.admin).toBe(false);

    t.state.db.run("DELETE FROM users WHERE email = 'dev@example.com'");
    const reused = await t.call("POST", "/api/signup", { body: { email: "dev@example.com", password: "correct horse", invite: code } });
    expect(reused.status).toBe(403);
  });

  test("only admins invite; duplicates and bad input get clear errors", async () => {
    t = testApi();
    const admin = await t.admin();
    const dev = await t.user(admin, "dev@example.com");
    expect((await t.call("POST", "/api/invites", { key: dev, body: { email: "x@example.com" } })).status).toBe(403);
    expect((await t.call("POST", "/api/invites", { key: admin, body: { email: "dev@example.com" } })).status).toBe(409);
    const dup = await t.call("POST", "/api/signup", { body: { email: "admin@example.com", password: "correct horse" } });
    expect(dup.status).toBe(409);
    const short = await t.call("POST", "/api/signup", { body: { email: "new@example.com", password: "short" } });
    expect(short.status).toBe(400);
    expect(short.body.error.message).toMatch(/password must be/);
    const bad = await t.call("POST", "/api/signup", { body: { email: "nope", password: "correct horse" } });
    expect(bad.body.error).toEqual({ code: "bad_request", message: "invalid email address", hint: "give an address such as you@example.com" });
  });
});

describe("login and API keys", () => {
  test("login gives a new key valid 365 days; a wrong password gets 401 and logs no password", async () => {
    t = testApi();
    await t.admin();
    const ok = await t.call("POST", "/api/login", { body: { email: "admin@example.com", password: "correct horse" } });
    expect(ok.status).toBe(200);
    const days = (Date.parse(ok.body.expires_at) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(364.9);
    expect(days).toBeLessThanOrEqual(365);
    expect((await t.call("GET", "/api/account", { key: ok.body.api_key })).body.email).toBe("admin@example.com");

    const wrong = await t.call("POST", "/api/login", { body: { email: "admin@example.com", password: "wrong password" } });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.message).toBe("wrong email or password");
    const unknown = await t.call("POST", "/api/login", { body: { email: "ghost@example.com", password: "correct horse" } });
    expect(unknown.status).toBe(401);
    expect(unknown.body.error.message).toBe("wrong email or password");
    expect(t.logger.lines.join("\n")).not.toMatch(/correct horse|wrong password/);
  });

  test("a missing, wrong or expired key gets 401 with a hint; Basic auth with the key as password works", async () => {
    let now = new Date("2026-01-01T00:00:00Z");
    t = testApi({ clock: () => now });
    const key = await t.admin();
    expect((await t.call("GET", "/api/account")).body.error.code).toBe("not_logged_in");
    const wrong = await t.call("GET", "/api/account", { key: "bsk_wrong" });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.hint).toMatch(/beamstalk login/);
    const basic = await t.call("GET", "/api/account", { headers: { authorization: "Basic " + btoa(`git:${key}`) } });
    expect(basic.status).toBe(200);

    now = new Date("2026-12-31T23:59:00Z");
    expect((await t.call("GET", "/api/account", { key })).status).toBe(200);
    now = new Date("2027-01-01T00:00:01Z");
    const expired = await t.call("GET", "/api/account", { key });
    expect(expired.status).toBe(401);
    expect(expired.body.error.code).toBe("api_key_expired");
  });

  test("reset revokes every old key at once; logout revokes the key used", async () => {
    t = testApi();
    const first = await t.admin();
    const second = (await t.call("POST", "/api/login", { body: { email: "admin@example.com", password: "correct horse" } })).body.api_key;
    const reset = await t.call("POST", "/api/account/api_key/reset", { key: first });
    expect(reset.status).toBe(200);
    expect((await t.call("GET", "/api/account", { key: first })).status).toBe(401);
    expect((await t.call("GET", "/api/account", { key: second })).status).toBe(401);
    const fresh = reset.body.api_key;
    expect((await t.call("GET", "/api/account", { key: fresh })).status).toBe(200);
    expect((await t.call("POST", "/api/logout", { key: fresh })).status).toBe(204);
    expect((await t.call("GET", "/api/account", { key: fresh })).status).toBe(401);
  });

  test("keys and passwords are stored hashed, never in clear", async () => {
    t = testApi();
    const key = await t.admin();
    const dump = JSON.stringify(t.state.db.query("SELECT * FROM api_keys").all()) + JSON.stringify(t.state.db.query("SELECT * FROM users").all());
    expect(dump).not.toContain(key);
    expect(dump).not.toContain("correct horse");
    expect(dump).toContain("$argon2id$");
  });

  test("password change needs the current password", async () => {
    t = testApi();
    const key = await t.admin();
    const wrong = await t.call("POST", "/api/account/password", { key, body: { current_password: "nope nope", new_password: "new password 1" } });
    expect(wrong.status).toBe(401);
    const ok = await t.call("POST", "/api/account/password", { key, body: { current_password: "correct horse", new_password: "new password 1" } });
    expect(ok.status).toBe(204);
    expect((await t.call("POST", "/api/login", { body: { email: "admin@example.com", password: "correct horse" } })).status).toBe(401);
    expect((await t.call("POST", "/api/login", { body: { email: "admin@example.com", password: "new password 1" } })).status).toBe(200);
  });
});

describe("malformed requests", () => {
  test("bad JSON, non-object bodies and unknown routes get JSON errors, never a stack trace", async () => {
    t = testApi();
    const key = await t.admin();
    for (const raw of ["{", "[1]", "null", "\"x\""]) {
      const res = await t.call("POST", "/api/apps", { key, raw });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("invalid_json");
    }
    const route = await t.call("GET", "/api/nope", { key });
    expect(route.status).toBe(404);
    const huge = await t.call("PATCH", "/api/apps/web/config", { key, raw: JSON.stringify({ set: { A: "x".repeat(5 * 1024 * 1024) } }) });
    expect(huge.status).toBe(413);
    for (const res of [route, huge]) expect(res.text).not.toMatch(/at .*\.ts:\d+/);
  });
});
