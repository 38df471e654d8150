import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { type TOTP, URI } from "otpauth";
import { BINARY, CliUser, type RunningDaemon, startDaemon } from "../support/daemon.ts";
import { decodeTerminalQr } from "../support/terminal-qr.ts";

/**
 * Multi-factor authentication as a user meets it: the compiled binary against
 * a real daemon. The test is the user's phone too: it reads the otpauth URI the
 * CLI shows and computes the codes from it, at the time it enters them.
 *
 * Each refused code or password counts against the account's sign-in limit (5, then 1 a
 * minute) and the address's (10, then 1 every 6 s), as in production. This file makes 9
 * refusals from 127.0.0.1, at most 4 per account; test/api/mfa.test.ts tries every kind of
 * bad code without the limits in the way.
 */
let daemon: RunningDaemon;
let admin: CliUser;
let dev: CliUser;
let root: CliUser;
const ADMIN_PASSWORD = { BEAMSTALK_PASSWORD: "correct horse" };
const DEV_PASSWORD = { BEAMSTALK_PASSWORD: "battery staple" };

beforeAll(async () => {
  daemon = await startDaemon();
  admin = new CliUser(daemon.url);
  dev = new CliUser(daemon.url);
  root = new CliUser(daemon.url);
  await admin.ok(["signup", "--email", "admin@example.com", "--socket", daemon.socket], { env: ADMIN_PASSWORD });
  const invite = JSON.parse(await admin.ok(["invites:create", "dev@example.com", "--json"])).code;
  await dev.ok(["signup", "--email", "dev@example.com", "--invite", invite], { env: DEV_PASSWORD });
});

afterAll(async () => {
  await daemon?.stop();
  for (const u of [admin, dev, root]) u?.cleanup();
});

const step = () => Math.floor(Date.now() / 30_000);

/** The user's phone: the codes of the secret in the URI, and which time step each account used last. */
class Phone {
  private lastUsed = -1;
  constructor(readonly totp: TOTP) {}
  /** The code shown now. */
  now(): string {
    this.lastUsed = Math.max(this.lastUsed, step());
    return this.totp.generate();
  }
  /** Waits until the phone shows a code of a step after the last one used (at most 30 s), as a user would. */
  async fresh(): Promise<string> {
    while (step() <= this.lastUsed) await Bun.sleep(250);
    return this.now();
  }
  /** A code that no step within 5 minutes of now has. */
  wrong(): string {
    const near = new Set(Array.from({ length: 21 }, (_, i) => this.totp.generate({ timestamp: Date.now() + (i - 10) * 30_000 })));
    return ["000000", "111111", "123456", "987654"].find((c) => !near.has(c))!;
  }
}

/**
 * `account:mfa:activate` with standard input as a pipe: reads the otpauth URI
 * from what the command shows, then writes the phone's code (or `answer`) as a line.
 */
async function activate(user: CliUser, env: Record<string, string>, answer?: (phone: Phone) => string) {
  const proc = Bun.spawn([BINARY, "account:mfa:activate"], {
    cwd: user.home,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: user.home, BEAMSTALK_URL: user.url, ...env },
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  const stdout = new Response(proc.stdout).text();
  let stderr = "";
  const decoder = new TextDecoder();
  const reader = proc.stderr.getReader();
  let uri: string | undefined;
  while (!uri) {
    const { value, done } = await reader.read();
    if (done) break;
    stderr += decoder.decode(value);
    uri = /^ {2}(otpauth:\/\/\S+)$/m.exec(stderr)?.[1];
  }
  if (!uri) throw new Error(`no otpauth URI shown: ${stderr}`);
  const phone = new Phone(URI.parse(uri) as TOTP);
  proc.stdin.write((answer ? answer(phone) : phone.now()) + "\n");
  await proc.stdin.end();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    stderr += decoder.decode(value);
  }
  return { code: await proc.exited, stdout: await stdout, stderr, uri, phone };
}

let adminPhone: Phone;
let recovery: string[];

describe("turning MFA on", () => {
  test("activate shows a QR code and the otpauth URI, asks for the phone's code, then prints 10 recovery codes once", async () => {
    const res = await activate(admin, ADMIN_PASSWORD);
    expect(res.code).toBe(0);
    expect(res.uri).toMatch(/^otpauth:\/\/totp\/Beamstalk:admin%40example\.com\?issuer=Beamstalk&secret=[A-Z2-7]{32}&algorithm=SHA1&digits=6&period=30$/);
    // The QR code in the terminal, read back as a camera would: it holds the same URI.
    expect(decodeTerminalQr(res.stderr)).toBe(res.uri);
    expect(res.stderr).toContain("Scan this QR code with your authenticator app");
    expect(res.stderr).toContain("Multi-factor authentication is on");
    recovery = res.stdout.trim().split("\n");
    expect(recovery).toHaveLength(10);
    for (const code of recovery) expect(code).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/);
    adminPhone = res.phone;

    const account = JSON.parse(await admin.ok(["account", "--json"]));
    expect(account.mfa).toMatchObject({ active: true, recovery_codes_left: 10, required_by_server: false });
    expect(await admin.ok(["account"])).toContain("mfa:     on (10 recovery codes left)");
    const again = await admin.run(["account:mfa:activate"], { env: ADMIN_PASSWORD });
    expect(again.code).toBe(5);
    expect(again.stderr).toStartWith("error: multi-factor authentication is already on\n");
  });

  test("a wrong, malformed or missing code leaves MFA off; so does a wrong password", async () => {
    const wrong = await activate(dev, DEV_PASSWORD, (phone) => phone.wrong());
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain("error: the code is not valid\n");
    const malformed = await activate(dev, DEV_PASSWORD, () => "12ab");
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain("error: the code is the 6 digits your authenticator app shows\n");
    const none = await dev.run(["account:mfa:activate"], { env: DEV_PASSWORD });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("error: Code from your authenticator app is required\n");
    const badPassword = await dev.run(["account:mfa:activate", "--password", "nope nope"]);
    expect(badPassword.code).toBe(3);
    expect(badPassword.stderr).toBe("error: password is wrong\n");
    expect(JSON.parse(await dev.ok(["account", "--json"])).mfa.active).toBe(false);
  });

  test("on a terminal: an independent authenticator (Python's hmac) scans the URI; a wrong code may be tried again, then its code turns MFA on", async () => {
    const terminalUser = new CliUser(daemon.url);
    try {
      const invite = JSON.parse(await admin.ok(["invites:create", "tty@example.com", "--json"])).code;
      await terminalUser.ok(["signup", "--email", "tty@example.com", "--invite", invite], { env: DEV_PASSWORD });
      const proc = Bun.spawn(["python3", join(import.meta.dir, "../fixtures/authenticator_on_terminal.py"), BINARY, "account:mfa:activate"], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: terminalUser.home, BEAMSTALK_URL: daemon.url, TERM: "dumb", ...DEV_PASSWORD },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [screen, exit] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
      expect(exit).toBe(0);
      expect(screen).toContain("error: the code is not valid");
      expect(screen.split("Code from your authenticator app: ")).toHaveLength(3);
      expect(screen).toContain("Multi-factor authentication is on");
      expect(JSON.parse(await terminalUser.ok(["account", "--json"])).mfa).toMatchObject({ active: true, recovery_codes_left: 10 });
    } finally {
      terminalUser.cleanup();
    }
  });

  test("the secret is in neither the daemon's log nor in clear in state.db; recovery codes are not stored in clear", () => {
    const secret = new URL(adminPhone.totp.toString()).searchParams.get("secret")!;
    const log = daemon.log();
    expect(log).toContain("account.mfa_activated user=admin@example.com");
    expect(log).not.toContain(secret);
    const files = readdirSync(daemon.dataDir).filter((f) => f.startsWith("state.db"));
    const bytes = files.map((f) => readFileSync(join(daemon.dataDir, f)).toString("latin1")).join("");
    expect(bytes).not.toContain(secret);
    for (const code of recovery) {
      expect(bytes).not.toContain(code.replaceAll("-", ""));
      expect(log).not.toContain(code);
    }
  });
});

describe("logging in with MFA on", () => {
  test("without a terminal the code must be given; the activation's code and a wrong one are refused", async () => {
    const login = (...extra: string[]) => admin.run(["login", "--email", "admin@example.com", ...extra], { env: ADMIN_PASSWORD });
    const none = await login();
    expect(none.code).toBe(3);
    expect(none.stderr).toBe(
      "error: this account uses multi-factor authentication: a code is needed\n" +
        "hint: give the code your authenticator app shows (`beamstalk login --code`), or one of your recovery codes\n",
    );
    const replayed = await login("--code", adminPhone.now());
    expect(replayed.code).toBe(3);
    expect(replayed.stderr).toStartWith("error: this code has been used already\nhint: a code works once");
    const wrong = await login("--code", adminPhone.wrong());
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toStartWith("error: the code is not valid\n");
  });

  test("the phone's next code logs in; a recovery code works once (BEAMSTALK_MFA_CODE), and says how many are left", async () => {
    const ok = await admin.run(["login", "--email", "admin@example.com", "--code", await adminPhone.fresh()], { env: ADMIN_PASSWORD });
    expect(ok.code).toBe(0);
    expect(ok.stderr).toBe("Logged in as admin@example.com.\n");
    const withRecovery = await admin.run(["login", "--email", "admin@example.com"], { env: { ...ADMIN_PASSWORD, BEAMSTALK_MFA_CODE: recovery[0]! } });
    expect(withRecovery.code).toBe(0);
    expect(withRecovery.stderr).toContain("Used a recovery code: 9 left.");
    const reused = await admin.run(["login", "--email", "admin@example.com"], { env: { ...ADMIN_PASSWORD, BEAMSTALK_MFA_CODE: recovery[0]! } });
    expect(reused.code).toBe(3);
    expect(reused.stderr).toStartWith("error: this code has been used already\n");
  });

  test("on a terminal, login asks for the code after the password", async () => {
    const code = await adminPhone.fresh();
    const proc = Bun.spawn(["python3", join(import.meta.dir, "../fixtures/on_terminal.py"), BINARY, "login"], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: admin.home, BEAMSTALK_URL: daemon.url, TERM: "dumb" },
      stdin: new Blob([JSON.stringify([["Email: ", "admin@example.com"], ["Password: ", "correct horse"], ["(or a recovery code): ", code]])]),
      stdout: "pipe",
      stderr: "pipe",
    });
    const [screen, exit] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(exit).toBe(0);
    expect(screen).toContain("Code from your authenticator app (or a recovery code): ");
    expect(screen).toContain("Logged in as admin@example.com.");
    expect(screen).not.toContain("correct horse");
  });

  test("API keys are unaffected: the CLI and git's push authentication work with the key alone", async () => {
    expect((await admin.run(["apps:create", "shop"])).code).toBe(0);
    expect(await admin.ok(["apps"])).toContain("shop");
    const key = /password (\S+)/.exec(readFileSync(join(admin.home, ".netrc"), "utf8"))![1]!;
    const refs = await fetch(`${daemon.url}/shop.git/info/refs?service=git-receive-pack`, { headers: { authorization: `Basic ${btoa(`git:${key}`)}` } });
    expect(refs.status).toBe(200);
    expect(await refs.text()).toContain("# service=git-receive-pack");
    const ls = Bun.spawnSync(["git", "ls-remote", `${daemon.url}/shop.git`], { env: { PATH: process.env.PATH, HOME: admin.home, GIT_CONFIG_NOSYSTEM: "1", GIT_TERMINAL_PROMPT: "0" } });
    expect(ls.exitCode).toBe(0);
  });

  test("recovery codes:regenerate needs a code; the old codes stop working, the new ones work", async () => {
    const none = await admin.run(["account:mfa:recovery_codes:regenerate"]);
    expect(none.code).toBe(2);
    const res = await admin.run(["account:mfa:recovery_codes:regenerate", "--json"], { env: { BEAMSTALK_MFA_CODE: recovery[1]! } });
    expect(res.code).toBe(0);
    const fresh = JSON.parse(res.stdout).recovery_codes as string[];
    expect(fresh).toHaveLength(10);
    const old = await admin.run(["login", "--email", "admin@example.com", "--code", recovery[2]!], { env: ADMIN_PASSWORD });
    expect(old.code).toBe(3);
    expect(old.stderr).toStartWith("error: the code is not valid\n");
    recovery = fresh;
    const plain = await admin.run(["account:mfa:recovery_codes:regenerate", "--code", recovery[0]!]);
    expect(plain.code).toBe(0);
    recovery = plain.stdout.trim().split("\n");
    expect(recovery).toHaveLength(10);
    expect(plain.stderr).toContain("Keep these 10 recovery codes somewhere safe");
  });
});

describe("requiring MFA of every account", () => {
  test("only an admin sets it; then an account without MFA can log in but only turn it on, over the API and git", async () => {
    const notAdmin = await dev.run(["account:mfa:require", "--on"]);
    expect(notAdmin.code).toBe(4);
    expect((await admin.run(["account:mfa:require", "--on", "--off"])).code).toBe(2);
    const on = await admin.run(["account:mfa:require", "--on"]);
    expect(on.code).toBe(0);
    expect(on.stdout).toBe("");
    expect(JSON.parse(await admin.ok(["account:mfa:require", "--json"]))).toEqual({ required: true });

    const apps = await dev.run(["apps"]);
    expect(apps.code).toBe(4);
    expect(apps.stderr).toBe(
      "error: this server requires multi-factor authentication, and your account does not have it on yet\n" +
        "hint: run `beamstalk account:mfa:activate`; until then your API key works only for that and your own account (`account`, `logout`, key and password changes)\n",
    );
    const login = await dev.run(["login", "--email", "dev@example.com"], { env: DEV_PASSWORD });
    expect(login.code).toBe(0);
    expect(login.stderr).toContain("This server requires multi-factor authentication: run `beamstalk account:mfa:activate`.");
    expect(await dev.ok(["account"])).toContain("mfa:     off, required by this server");
    const key = /password (\S+)/.exec(readFileSync(join(dev.home, ".netrc"), "utf8"))![1]!;
    await admin.ok(["access:add", "dev@example.com", "-a", "shop"]);
    const refs = await fetch(`${daemon.url}/shop.git/info/refs?service=git-upload-pack`, { headers: { authorization: `Basic ${btoa(`git:${key}`)}` } });
    expect(refs.status).toBe(403);
    expect(await refs.text()).toContain("run `beamstalk account:mfa:activate`");

    const activated = await activate(dev, DEV_PASSWORD);
    expect(activated.code).toBe(0);
    expect(await dev.ok(["apps"])).toContain("shop");

    const deactivate = await admin.run(["account:mfa:deactivate", "--code", recovery[0]!], { env: ADMIN_PASSWORD });
    expect(deactivate.code).toBe(4);
    expect(deactivate.stderr).toContain("hint: an admin can lift the requirement: `beamstalk account:mfa:require --off`");
  });

  test("root on the host lifts it over the unix socket, with no account", async () => {
    const off = await root.run(["account:mfa:require", "--off", "--socket", daemon.socket]);
    expect(off.code).toBe(0);
    expect(off.stderr).toBe("Multi-factor authentication is no longer required.\n");
    expect(await root.ok(["account:mfa:require", "--socket", daemon.socket])).toBe("mfa required: no\n");
  });
});

describe("turning MFA off", () => {
  test("needs the password and a code or a recovery code; then login needs no code", async () => {
    const noCode = await admin.run(["account:mfa:deactivate"], { env: ADMIN_PASSWORD });
    expect(noCode.code).toBe(2);
    expect(noCode.stderr).toContain("is required");
    const badPassword = await dev.run(["account:mfa:deactivate", "--password", "wrong horse", "--code", "000000"]);
    expect(badPassword.code).toBe(3);
    expect(badPassword.stderr).toBe("error: password is wrong\n");
    expect(JSON.parse(await dev.ok(["account", "--json"])).mfa.active).toBe(true);
    const ok = await admin.run(["account:mfa:deactivate", "--code", recovery[0]!], { env: ADMIN_PASSWORD });
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain("Multi-factor authentication is off");
    expect((await admin.run(["login", "--email", "admin@example.com"], { env: ADMIN_PASSWORD })).code).toBe(0);
    expect(JSON.parse(await admin.ok(["account", "--json"])).mfa.active).toBe(false);
  });
});
