import { afterEach, describe, expect, test } from "bun:test";
import { URI } from "otpauth";
import { defaultThrottle } from "../../src/api/throttle.ts";
import { testApi } from "../support/api.ts";

let t: ReturnType<typeof testApi>;
afterEach(() => t?.close());

const ADMIN = { email: "admin@example.com", password: "correct horse" };

/** An API on a clock the test moves (the state's and the rate limits'), starting 5 s into a 30 s step. */
function clocked() {
  let now = Date.UTC(2026, 5, 1, 12, 0, 5);
  t = testApi({ clock: () => new Date(now), throttle: defaultThrottle(() => now) });
  return { t, advance: (ms: number) => void (now += ms), now: () => now };
}

/** What a phone does: reads the otpauth URI, then shows the code for the moment asked. */
const phone = (uri: string) => {
  const totp = URI.parse(uri);
  return (at: number, stepsAway = 0) => totp.generate({ timestamp: at + stepsAway * 30_000 });
};

/** Turns MFA on for the key's account; returns the phone and the recovery codes. */
async function activate(key: string, at: () => number, password = ADMIN.password) {
  const begun = await t.call("POST", "/api/account/mfa/activate", { key, body: { password } });
  expect(begun.status).toBe(201);
  const code = phone(begun.body.otpauth_uri);
  const confirmed = await t.call("POST", "/api/account/mfa/activate/confirm", { key, body: { code: code(at()) } });
  expect(confirmed.status).toBe(200);
  return { code, secret: begun.body.secret as string, recovery: confirmed.body.recovery_codes as string[] };
}

/** From a client address, or over the unix socket (never rate-limited: for tests of many refusals in a row). */
const login = (body: Record<string, unknown>, from?: string) =>
  t.call("POST", "/api/login", { body: { ...ADMIN, ...body }, ...(from ? { env: from === "unix" ? { transport: "unix" } : { transport: "tcp", clientIp: from } } : {}) });

describe("activation", () => {
  test("needs the password, shows the otpauth URI and secret, and turns on only with a current code; 10 recovery codes once", async () => {
    const { t, now } = clocked();
    const key = await t.admin();
    expect((await t.call("GET", "/api/account", { key })).body.mfa).toEqual({ active: false, activated_at: null, recovery_codes_left: 0, required_by_server: false });

    const noPassword = await t.call("POST", "/api/account/mfa/activate", { key, body: {} });
    expect(noPassword.status).toBe(401);
    expect(noPassword.body.error.message).toBe("password is wrong");
    const begun = await t.call("POST", "/api/account/mfa/activate", { key, body: { password: ADMIN.password } });
    expect(begun.status).toBe(201);
    expect(begun.body.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(begun.body.otpauth_uri).toStartWith("otpauth://totp/Beamstalk:admin%40example.com?");
    expect(Object.fromEntries(new URL(begun.body.otpauth_uri).searchParams)).toEqual({ issuer: "Beamstalk", secret: begun.body.secret, algorithm: "SHA1", digits: "6", period: "30" });
    expect(Date.parse(begun.body.expires_at) - now()).toBe(10 * 60_000);

    // Waiting for its first code, MFA is not on: login needs no code yet.
    expect((await login({})).status).toBe(200);
    const code = phone(begun.body.otpauth_uri);
    const wrong = await t.call("POST", "/api/account/mfa/activate/confirm", { key, body: { code: code(now(), 5) } });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.message).toBe("the code is not valid yet");
    const malformed = await t.call("POST", "/api/account/mfa/activate/confirm", { key, body: { code: "abc" } });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.message).toBe("the code is the 6 digits your authenticator app shows");
    expect((await t.call("GET", "/api/account/mfa", { key })).body.active).toBe(false);

    const ok = await t.call("POST", "/api/account/mfa/activate/confirm", { key, body: { code: code(now()) } });
    expect(ok.status).toBe(200);
    expect(ok.body.recovery_codes).toHaveLength(10);
    for (const c of ok.body.recovery_codes) expect(c).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/);
    expect((await t.call("GET", "/api/account/mfa", { key })).body).toEqual({ active: true, activated_at: new Date(now()).toISOString(), recovery_codes_left: 10, required_by_server: false });

    const again = await t.call("POST", "/api/account/mfa/activate", { key, body: { password: ADMIN.password } });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toBe("multi-factor authentication is already on");
    const confirmAgain = await t.call("POST", "/api/account/mfa/activate/confirm", { key, body: { code: code(now(), 1) } });
    expect(confirmAgain.status).toBe(409);
  });

  test("an activation waits 10 minutes for its first code; starting again shows a new secret and the old one stops", async () => {
    const { t, now, advance } = clocked();
    const key = await t.admin();
    const first = (await t.call("POST", "/api/account/mfa/activate", { key, body: { password: ADMIN.password } })).body;
    const second = (await t.call("POST", "/api/account/mfa/activate", { key, body: { password: ADMIN.password } })).body;
    expect(second.secret).not.toBe(first.secret);
    const stale = await t.call("POST", "/api/account/mfa/activate/confirm", { key, body: { code: phone(first.otpauth_uri)(now()) } });
    expect(stale.status).toBe(401);
    advance(10 * 60_000);
    const late = await t.call("POST", "/api/account/mfa/activate/confirm", { key, body: { code: phone(second.otpauth_uri)(now()) } });
    expect(late.status).toBe(409);
    expect(late.body.error.message).toMatch(/activation has expired/);
    expect(late.body.error.hint).toContain("account:mfa:activate");
    expect((await t.call("GET", "/api/account/mfa", { key })).body.active).toBe(false);
    const other = await t.user(key, "nobody@example.com");
    const none = await t.call("POST", "/api/account/mfa/activate/confirm", { key: other, body: { code: "123456" } });
    expect(none.status).toBe(409);
    expect(none.body.error.message).toBe("no activation is waiting for a code");
  });

  test("the secret is encrypted at rest and bound to its account; recovery codes are stored hashed; neither reaches the log", async () => {
    const { t, now } = clocked();
    const key = await t.admin();
    const { secret, recovery } = await activate(key, now);
    const dump = JSON.stringify(t.state.db.query("SELECT * FROM mfa").all()) + JSON.stringify(t.state.db.query("SELECT * FROM mfa_recovery_codes").all());
    const row = t.state.db.query("SELECT secret FROM mfa").get() as { secret: Uint8Array };
    expect(Buffer.from(row.secret).toString("latin1")).not.toContain(secret);
    expect(dump).not.toContain(secret);
    for (const code of recovery) {
      expect(dump).not.toContain(code);
      expect(dump).not.toContain(code.replaceAll("-", ""));
    }
    const logged = t.logger.lines.join("\n");
    expect(logged).toContain("account.mfa_activated");
    expect(logged).not.toContain(secret);
    for (const code of recovery) expect(logged).not.toContain(code);

    // The same ciphertext under another account's row does not decrypt.
    const dev = await t.user(key, "dev@example.com");
    const devId = (t.state.users.byEmail("dev@example.com"))!.id;
    await t.call("POST", "/api/account/mfa/activate", { key: dev, body: { password: "battery staple" } });
    t.state.db.query("UPDATE mfa SET secret = ?, state = 'active' WHERE user_id = ?").run(row.secret, devId);
    expect(() => t.state.mfa.verify(devId, "123456")).toThrow(/cannot decrypt/);
  });
});

describe("login with MFA on", () => {
  test("(over the socket, so no limit interferes) asks for the code; a current code works once; replayed, expired, early, wrong and malformed codes are refused and change nothing", async () => {
    const { t, now, advance } = clocked();
    const key = await t.admin();
    const { code } = await activate(key, now);

    const none = await login({}, "unix");
    expect(none.status).toBe(401);
    expect(none.body.error).toEqual({
      code: "mfa_required",
      message: "this account uses multi-factor authentication: a code is needed",
      hint: "give the code your authenticator app shows (`beamstalk login --code`), or one of your recovery codes",
    });
    // The code that confirmed the activation was used: its step is remembered.
    const replayedActivation = await login({ code: code(now()) }, "unix");
    expect(replayedActivation.body.error.message).toBe("this code has been used already");

    advance(30_000);
    const ok = await login({ code: code(now()) }, "unix");
    expect(ok.status).toBe(200);
    expect(ok.body.api_key).toMatch(/^bsk_/);
    expect(ok.body.recovery_codes_left).toBeUndefined();
    const replay = await login({ code: code(now()) }, "unix");
    expect(replay.status).toBe(401);
    expect(replay.body.error.message).toBe("this code has been used already");
    expect(replay.body.error.hint).toMatch(/wait for the next one/);
    // The previous step's code is within the window, but older than the one used: also refused.
    expect((await login({ code: code(now(), -1) }, "unix")).body.error.message).toBe("this code has been used already");

    const expired = await login({ code: code(now(), -3) }, "unix");
    expect(expired.status).toBe(401);
    expect(expired.body.error.message).toBe("the code has expired");
    const early = await login({ code: code(now(), 3) }, "unix");
    expect(early.body.error.message).toBe("the code is not valid yet");
    expect(early.body.error.hint).toMatch(/clocks/);
    const near = new Set(Array.from({ length: 21 }, (_, i) => code(now(), i - 10)));
    const wrong = await login({ code: ["000000", "111111", "123456", "987654"].find((c) => !near.has(c)) }, "unix");
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.message).toBe("the code is not valid");
    for (const bad of ["12345", "abcdef", "1234567", 123456, ["123456"]]) {
      const res = await login({ code: bad }, "unix");
      expect({ bad, status: res.status }).toEqual({ bad, status: 400 });
      expect(res.body.error.message).toMatch(/^a code is the 6 digits/);
    }

    // A wrong password with the right code: refused before the code is looked at, so the code is not used up.
    advance(30_000);
    expect((await login({ password: "wrong horse", code: code(now()) }, "unix")).body.error.message).toBe("wrong email or password");
    expect((await login({ code: code(now()) }, "unix")).status).toBe(200);
    const logged = t.logger.lines.join("\n");
    expect(logged).toContain("account.mfa_failed user=admin@example.com reason=replayed");
    expect(logged).not.toContain(code(now()));
  });

  test("the next step's code is accepted early (a phone a little ahead), then its own step cannot reuse it", async () => {
    const { t, now, advance } = clocked();
    const key = await t.admin();
    const { code } = await activate(key, now);
    const ahead = code(now(), 1);
    expect((await login({ code: ahead })).status).toBe(200);
    advance(30_000);
    expect((await login({ code: ahead })).body.error.message).toBe("this code has been used already");
  });

  test("two logins racing with one code: exactly one gets a key", async () => {
    const { t, now, advance } = clocked();
    const key = await t.admin();
    const { code } = await activate(key, now);
    advance(30_000);
    const results = await Promise.all([1, 2, 3, 4].map(() => login({ code: code(now()) })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 401, 401, 401]);
  });

  test("a recovery code works once in place of a code, in any case and with or without dashes; the answer says how many are left", async () => {
    const { t, now } = clocked();
    const key = await t.admin();
    const { recovery } = await activate(key, now);
    const first = await login({ code: recovery[0] });
    expect(first.status).toBe(200);
    expect(first.body.recovery_codes_left).toBe(9);
    const again = await login({ code: recovery[0] });
    expect(again.status).toBe(401);
    expect(again.body.error.message).toBe("this code has been used already");
    const loose = await login({ code: ` ${recovery[1]!.replaceAll("-", "").toUpperCase()} ` });
    expect(loose.status).toBe(200);
    expect(loose.body.recovery_codes_left).toBe(8);
    expect((await login({ code: "aaaa-bbbb-cccc-dddd" })).body.error.message).toBe("the code is not valid");
    expect((await t.call("GET", "/api/account/mfa", { key })).body.recovery_codes_left).toBe(8);
  });

  test("API keys are unaffected: the keys issued before MFA went on keep working, with no code", async () => {
    const { t, now } = clocked();
    const key = await t.admin();
    await activate(key, now);
    expect((await t.call("GET", "/api/apps", { key })).status).toBe(200);
    expect((await t.call("POST", "/api/apps", { key, body: { name: "web" } })).status).toBe(201);
    expect((await t.call("GET", "/api/account", { key })).body.mfa.active).toBe(true);
  });
});

describe("rate limits", () => {
  test("wrong codes count towards the account's sign-in limit: after 5, even the right password and code wait", async () => {
    const { t, now, advance } = clocked();
    const key = await t.admin();
    const { code } = await activate(key, now);
    advance(30_000);
    for (let i = 0; i < 5; i++) expect((await login({ code: i % 2 ? "00000" : "999999" }, `10.9.0.${i}`)).status).toBeOneOf([400, 401]);
    const limited = await login({ code: code(now()) }, "192.0.2.99");
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe("rate_limited");
    advance(60_000);
    expect((await login({ code: code(now()) }, "192.0.2.99")).status).toBe(200);
  });

  test("being asked for the code takes nothing; wrong codes at deactivate and regenerate count too", async () => {
    const { t, now } = clocked();
    const key = await t.admin();
    await activate(key, now);
    for (let i = 0; i < 12; i++) expect((await login({}, "10.8.0.1")).body.error.code).toBe("mfa_required");
    const from = { env: { transport: "tcp" as const, clientIp: "10.7.0.1" } };
    for (let i = 0; i < 3; i++) expect((await t.call("POST", "/api/account/mfa/recovery_codes", { key, body: { code: "000000" }, ...from })).status).toBe(401);
    for (let i = 0; i < 2; i++) expect((await t.call("POST", "/api/account/mfa/deactivate", { key, body: { password: ADMIN.password, code: "000000" }, ...from })).status).toBe(401);
    expect((await t.call("POST", "/api/account/mfa/recovery_codes", { key, body: { code: "000000" }, ...from })).status).toBe(429);
  });
});

describe("recovery codes and deactivation", () => {
  test("regenerating needs a code; the old recovery codes stop working, the new ones work", async () => {
    const { t, now, advance } = clocked();
    const key = await t.admin();
    const { code, recovery } = await activate(key, now);
    expect((await t.call("POST", "/api/account/mfa/recovery_codes", { key, body: {} })).status).toBe(400);
    advance(30_000);
    const res = await t.call("POST", "/api/account/mfa/recovery_codes", { key, body: { code: code(now()) } });
    expect(res.status).toBe(200);
    expect(res.body.recovery_codes).toHaveLength(10);
    expect(res.body.recovery_codes.some((c: string) => recovery.includes(c))).toBe(false);
    expect((await login({ code: recovery[2] })).body.error.message).toBe("the code is not valid");
    expect((await login({ code: res.body.recovery_codes[0] })).status).toBe(200);
    expect((await t.call("GET", "/api/account/mfa", { key })).body.recovery_codes_left).toBe(9);
  });

  test("deactivating needs the password and a code (or a recovery code); then login needs no code", async () => {
    const { t, now, advance } = clocked();
    const key = await t.admin();
    const { code, recovery } = await activate(key, now);
    advance(30_000);
    const noCode = await t.call("POST", "/api/account/mfa/deactivate", { key, body: { password: ADMIN.password } });
    expect(noCode.status).toBe(400);
    const badPassword = await t.call("POST", "/api/account/mfa/deactivate", { key, body: { password: "nope nope", code: code(now()) } });
    expect(badPassword.status).toBe(401);
    expect(badPassword.body.error.message).toBe("password is wrong");
    expect((await t.call("GET", "/api/account/mfa", { key })).body.active).toBe(true);
    const ok = await t.call("POST", "/api/account/mfa/deactivate", { key, body: { password: ADMIN.password, code: recovery[0] } });
    expect(ok.status).toBe(204);
    expect((await t.call("GET", "/api/account/mfa", { key })).body).toMatchObject({ active: false, recovery_codes_left: 0 });
    expect(t.state.db.query("SELECT count(*) AS n FROM mfa_recovery_codes").get()).toEqual({ n: 0 });
    expect((await login({})).status).toBe(200);
    const twice = await t.call("POST", "/api/account/mfa/deactivate", { key, body: { password: ADMIN.password, code: code(now()) } });
    expect(twice.status).toBe(409);
    expect(twice.body.error.message).toBe("multi-factor authentication is not on for this account");
    expect((await t.call("POST", "/api/account/mfa/recovery_codes", { key, body: { code: code(now()) } })).status).toBe(409);
  });
});

/** A server that requires MFA: its admin has it on, dev@example.com (battery staple) does not. */
async function requiring() {
  const { t, now } = clocked();
  const admin = await t.admin();
  const dev = await t.user(admin, "dev@example.com");
  await activate(admin, now);
  await t.call("PUT", "/api/server/mfa", { key: admin, body: { required: true } });
  return { now, admin, dev };
}

describe("the server's requirement", () => {
  test("only an admin whose own MFA is on can require it; root over the socket can always lift it", async () => {
    const { t, now } = clocked();
    const admin = await t.admin();
    const dev = await t.user(admin, "dev@example.com");
    expect((await t.call("PUT", "/api/server/mfa", { key: dev, body: { required: true } })).status).toBe(403);
    const unprotected = await t.call("PUT", "/api/server/mfa", { key: admin, body: { required: true } });
    expect(unprotected.status).toBe(409);
    expect(unprotected.body.error.message).toBe("turn on multi-factor authentication for your own account first");
    expect((await t.call("PUT", "/api/server/mfa", { key: admin, body: { required: "yes" } })).status).toBe(400);
    await activate(admin, now);
    expect((await t.call("PUT", "/api/server/mfa", { key: admin, body: { required: true } })).body).toEqual({ required: true });
    expect((await t.call("GET", "/api/server/mfa", { key: dev })).body).toEqual({ required: true });
    expect((await t.call("PUT", "/api/server/mfa", { body: { required: true } })).status).toBe(401);
    const root = await t.call("PUT", "/api/server/mfa", { body: { required: false }, env: { transport: "unix" } });
    expect(root.body).toEqual({ required: false });
    expect(t.state.mfa.required()).toBe(false);
  });

  test("a user without MFA may log in, and their keys (old and new) reach only their account, MFA and logout until they turn it on", async () => {
    const { now, admin, dev: oldKey } = await requiring();

    const apps = await t.call("GET", "/api/apps", { key: oldKey });
    expect(apps.status).toBe(403);
    expect(apps.body.error).toEqual({
      code: "mfa_setup_required",
      message: "this server requires multi-factor authentication, and your account does not have it on yet",
      hint: "run `beamstalk account:mfa:activate`; until then your API key works only for that and your own account (`account`, `logout`, key and password changes)",
    });
    const signedIn = await t.call("POST", "/api/login", { body: { email: "dev@example.com", password: "battery staple" } });
    expect(signedIn.status).toBe(200);
    expect(signedIn.body.mfa_setup_required).toBe(true);
    const newKey = signedIn.body.api_key;
    expect((await t.call("GET", "/api/apps", { key: newKey })).status).toBe(403);
    expect((await t.call("POST", "/api/account/ssh_keys", { key: newKey, body: { key: "ssh-ed25519 AAAA" } })).status).toBe(403);
    expect((await t.call("GET", "/api/account", { key: newKey })).body.mfa).toMatchObject({ active: false, required_by_server: true });
    // The admin, whose MFA is on, is not limited.
    expect((await t.call("GET", "/api/apps", { key: admin })).status).toBe(200);

    await activate(newKey, now, "battery staple");
    expect((await t.call("GET", "/api/apps", { key: oldKey })).status).toBe(200);
    const deactivate = await t.call("POST", "/api/account/mfa/deactivate", { key: newKey, body: { password: "battery staple", code: "000000" } });
    expect(deactivate.status).toBe(403);
    expect(deactivate.body.error.hint).toContain("account:mfa:require --off");

    // A new account under the requirement: signed up, limited the same way.
    const invite = (await t.call("POST", "/api/invites", { key: admin, body: { email: "new@example.com" } })).body.code;
    const signup = await t.call("POST", "/api/signup", { body: { email: "new@example.com", password: "correct horse", invite } });
    expect(signup.body.mfa_setup_required).toBe(true);
    expect((await t.call("GET", "/api/apps", { key: signup.body.api_key })).status).toBe(403);

    await t.call("PUT", "/api/server/mfa", { key: admin, body: { required: false } });
    expect((await t.call("GET", "/api/apps", { key: signup.body.api_key })).status).toBe(200);
  });

  test("under the requirement an account without MFA may still change its own password and key, and log out", async () => {
    const { dev } = await requiring();
    const password = await t.call("POST", "/api/account/password", { key: dev, body: { current_password: "battery staple", new_password: "new password 1" } });
    expect(password.status).toBe(204);
    const reset = await t.call("POST", "/api/account/api_key/reset", { key: dev });
    expect(reset.status).toBe(200);
    expect((await t.call("GET", "/api/apps", { key: reset.body.api_key })).body.error.code).toBe("mfa_setup_required");
    expect((await t.call("POST", "/api/logout", { key: reset.body.api_key })).status).toBe(204);
  });
});
