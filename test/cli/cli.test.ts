import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { CliUser, type RunningDaemon, startDaemon, tempDir } from "../support/daemon.ts";

/**
 * The compiled binary as a user runs it, against a daemon booted on a free
 * port with a temporary data directory; every user has their own HOME.
 */
let daemon: RunningDaemon;
let admin: CliUser;
let dev: CliUser;
const git = (cwd: string, ...args: string[]) => {
  const res = Bun.spawnSync(["git", ...args], { cwd, env: { ...process.env, GIT_CONFIG_NOSYSTEM: "1", HOME: cwd } });
  return res.stdout.toString().trim();
};

beforeAll(async () => {
  daemon = await startDaemon();
  admin = new CliUser(daemon.url);
  dev = new CliUser(daemon.url);
});

afterAll(async () => {
  await daemon?.stop();
  admin?.cleanup();
  dev?.cleanup();
});

describe("accounts", () => {
  test("the first signup over the local socket claims the server; the key lands in ~/.netrc (0600)", async () => {
    const res = await admin.run(["signup", "--email", "admin@example.com", "--password-stdin", "--socket", daemon.socket], { stdin: "correct horse\n" });
    expect(res.code).toBe(0);
    expect(res.stdout).toBe("");
    expect(res.stderr).toContain("Signed up and logged in as admin@example.com (admin of this server).");
    const netrc = join(admin.home, ".netrc");
    expect(statSync(netrc).mode & 0o777).toBe(0o600);
    expect(readFileSync(netrc, "utf8")).toMatch(/^machine 127\.0\.0\.1\n  login admin@example\.com\n  password bsk_\S+\n$/);
    const settings = JSON.parse(readFileSync(join(admin.home, ".config/beamstalk/config.json"), "utf8"));
    expect(settings.url).toBe(daemon.url);
    expect(JSON.parse(await admin.ok(["account", "--json"]))).toMatchObject({ email: "admin@example.com", admin: true });
  });

  test("an invited user signs up with the code; without one they get a hint", async () => {
    const refused = await dev.run(["signup", "--email", "dev@example.com"], { env: { BEAMSTALK_PASSWORD: "battery staple" } });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toBe("error: signing up needs an invite\nhint: ask an admin to run `beamstalk invites:create dev@example.com`\n");

    const invite = JSON.parse(await admin.ok(["invites:create", "dev@example.com", "--json"]));
    expect(invite.code).toMatch(/^bsi_/);
    const ok = await dev.run(["signup", "--email", "dev@example.com"], { env: { BEAMSTALK_PASSWORD: "battery staple", BEAMSTALK_INVITE: invite.code } });
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain("Signed up and logged in as dev@example.com.");
  });

  test("login with --password and with standard input; a wrong password exits 3", async () => {
    expect((await dev.run(["login", "--email", "dev@example.com", "--password", "battery staple"])).code).toBe(0);
    expect((await dev.run(["login", "--email", "dev@example.com", "--password-stdin"], { stdin: "battery staple\n" })).code).toBe(0);
    const wrong = await dev.run(["login", "--email", "dev@example.com", "--password-stdin"], { stdin: "nope nope\n" });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toBe("error: wrong email or password\n");
    const noTty = await dev.run(["login", "--email", "dev@example.com"]);
    expect(noTty.code).toBe(2);
    expect(noTty.stderr).toContain("hint: pass it as a flag when not running in a terminal");
  });
});

describe("apps, config and releases", () => {
  let repo: string;

  test("apps:create inside a git repository adds the beamstalk remote", async () => {
    repo = join(admin.home, "work", "web");
    mkdirSync(repo);
    git(repo, "init", "-q");
    const res = await admin.run(["apps:create", "web"], { cwd: repo });
    expect(res.code).toBe(0);
    expect(res.stdout).toBe("web\n");
    expect(git(repo, "remote", "get-url", "beamstalk")).toBe(`${daemon.url}/web.git`);
  });

  test("commands find the app from the git remote; config:set, config, config:unset, releases", async () => {
    expect(await admin.ok(["config:set", "A=1", "URL=postgres://u:p@h/db?x=1"], { cwd: repo })).toBe("");
    const vars = JSON.parse(await admin.ok(["config", "--json"], { cwd: repo }));
    expect(vars).toEqual({ A: "1", URL: "postgres://u:p@h/db?x=1" });
    expect(await admin.ok(["config"], { cwd: repo })).toBe("KEY  VALUE\nA    1\nURL  postgres://u:p@h/db?x=1\n");
    await admin.ok(["config:set", "--stdin", "PEM"], { cwd: repo, stdin: "-----BEGIN X-----\nline2\n" });
    expect(JSON.parse(await admin.ok(["config", "-a", "web", "--json"])).PEM).toBe("-----BEGIN X-----\nline2");
    await admin.ok(["config:unset", "A", "-a", "web"]);
    const releases = JSON.parse(await admin.ok(["releases", "--json"], { cwd: repo }));
    expect(releases.map((r: { version: number; summary: string }) => `v${r.version} ${r.summary}`)).toEqual([
      "v3 Unset A config var",
      "v2 Set PEM config var",
      "v1 Set A, URL config vars",
    ]);
  });

  test("bad input gets a clear error and changes nothing", async () => {
    const cases: [string[], number, string][] = [
      [["config:set", "-a", "web", "A=2", "oops"], 2, "error: expected KEY=VALUE, argument 2 is not"],
      [["config:set", "-a", "web", "1A=2"], 2, "error: invalid config key"],
      [["config:unset", "-a", "web", "MISSING"], 4, "error: config var MISSING not set on web"],
      [["config", "-a", "../x"], 2, "error: invalid app name"],
      [["config", "-a", "--upload-pack=x"], 2, "error:"],
      [["apps:create", "$(id)"], 2, "error: invalid app name"],
      [["config", "-a", "nope"], 4, "error: app nope not found"],
      [["config", "--app", "web", "--jsn"], 2, "error: unknown flag --jsn"],
      [["apps:info", "web", "extra"], 2, "error: unexpected argument"],
    ];
    for (const [args, code, message] of cases) {
      const res = await admin.run(args);
      expect({ args, code: res.code }).toEqual({ args, code });
      expect(res.stderr).toStartWith(message);
      expect(res.stderr).toContain("hint: ");
    }
    expect((await admin.run(["config", "-a", "web"], { cwd: admin.home })).code).toBe(0);
    expect(JSON.parse(await admin.ok(["releases", "-a", "web", "--json"]))).toHaveLength(3);
  });

  test("a generated name outside a repository; apps, apps:info, aliases", async () => {
    const name = (await admin.ok(["create"])).trim();
    expect(name).toMatch(/^[a-z]+-[a-z]+-\d{4}$/);
    const apps = await admin.ok(["apps"]);
    expect(apps.split("\n")[0]).toMatch(/^NAME\s+ROLE\s+OWNER\s+URL$/);
    expect(apps).toContain(`${name}`);
    const info = JSON.parse(await admin.ok(["apps:info", "-a", "web", "--json"]));
    expect(info).toMatchObject({ name: "web", owner: "admin@example.com", url: "http://web.apps.test", git_url: `${daemon.url}/web.git`, release: 3 });
    expect(JSON.parse(await admin.ok(["configs", "-a", "web", "--json"])).URL).toBe("postgres://u:p@h/db?x=1");
    expect(await admin.ok(["config:copy", "--from", "web", "--to", name])).toBe("");
    expect(JSON.parse(await admin.ok(["config", "-a", name, "--json"]))).toEqual({ URL: "postgres://u:p@h/db?x=1", PEM: "-----BEGIN X-----\nline2" });
  });

  test("git:remote points another checkout at the app", async () => {
    const other = join(admin.home, "work", "clone");
    mkdirSync(other);
    git(other, "init", "-q");
    await admin.ok(["git:remote", "-a", "web"], { cwd: other });
    expect(git(other, "remote", "get-url", "beamstalk")).toBe(`${daemon.url}/web.git`);
    expect(JSON.parse(await admin.ok(["apps:info", "--json"], { cwd: other })).name).toBe("web");
  });
});

describe("access", () => {
  test("access:add, roles enforced, access:remove makes the app disappear", async () => {
    const before = await dev.run(["config", "-a", "web"]);
    expect(before.code).toBe(4);
    expect(before.stderr).toContain("error: app web not found");

    await admin.ok(["access:add", "dev@example.com", "--role", "viewer", "-a", "web"]);
    expect(JSON.parse(await dev.ok(["config", "-a", "web", "--json"])).URL).toBeDefined();
    const write = await dev.run(["config:set", "-a", "web", "B=2"]);
    expect(write.code).toBe(4);
    expect(write.stderr).toContain("error: your viewer access to web does not allow this");

    await admin.ok(["access:add", "dev@example.com", "-a", "web"]);
    await dev.ok(["config:set", "-a", "web", "B=2"]);
    const list = JSON.parse(await dev.ok(["access", "-a", "web", "--json"]));
    expect(list.map((e: { email: string; role: string }) => `${e.email} ${e.role}`)).toEqual(["admin@example.com owner", "dev@example.com collaborator"]);
    const badRole = await admin.run(["access:add", "dev@example.com", "--role", "god", "-a", "web"]);
    expect(badRole.code).not.toBe(0);

    await admin.ok(["access:remove", "dev@example.com", "-a", "web"]);
    expect((await dev.run(["apps:info", "-a", "web"])).code).toBe(4);
    const activity = await admin.ok(["apps:activity", "-a", "web"]);
    expect(activity).toContain("Removed access of dev@example.com");
    expect(activity).toMatch(/dev@example\.com +Set B config var \(v4\)/);
  });
});

describe("SSH keys", () => {
  test("add from a .pub path, list, refuse a duplicate, remove", async () => {
    const dir = tempDir("ssh");
    Bun.spawnSync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dev-laptop", "-f", join(dir, "id")]);
    const added = JSON.parse(await dev.ok(["account:ssh_keys:add", join(dir, "id.pub"), "--json"]));
    expect(added.comment).toBe("dev-laptop");
    const dup = await admin.run(["add_ssh_key", readFileSync(join(dir, "id.pub"), "utf8").trim()]);
    expect(dup.code).toBe(5);
    expect(dup.stderr).toContain("is already registered");
    const priv = await dev.run(["account:ssh_keys:add", join(dir, "id")]);
    expect(priv.code).toBe(2);
    expect(priv.stderr).toContain("private key");
    const list = JSON.parse(await dev.ok(["ssh_keys", "--json"]));
    expect(list.map((k: { fingerprint: string }) => k.fingerprint)).toEqual([added.fingerprint]);
    await dev.ok(["account:ssh_keys:remove", String(added.id)]);
    expect(await dev.ok(["account:ssh_keys"])).toBe("");
  });
});

describe("keys, passwords, logout and errors", () => {
  test("account:api_key:reset: the old key stops working at once, ~/.netrc holds the new one", async () => {
    const old = /password (\S+)/.exec(readFileSync(join(dev.home, ".netrc"), "utf8"))![1]!;
    await dev.ok(["account:api_key:reset"]);
    const fresh = /password (\S+)/.exec(readFileSync(join(dev.home, ".netrc"), "utf8"))![1]!;
    expect(fresh).not.toBe(old);
    const withOld = await dev.run(["account"], { env: { BEAMSTALK_API_KEY: old } });
    expect(withOld.code).toBe(3);
    expect(withOld.stderr).toBe("error: API key is not valid\nhint: it may have been reset; run `beamstalk login`\n");
    expect((await dev.run(["account"])).code).toBe(0);
  });

  test("account:password:change, then logout removes the key and revokes it", async () => {
    await dev.ok(["change_password"], { env: { BEAMSTALK_PASSWORD: "battery staple", BEAMSTALK_NEW_PASSWORD: "new battery staple" } });
    expect((await dev.run(["login", "--email", "dev@example.com", "--password-stdin"], { stdin: "battery staple" })).code).toBe(3);
    await dev.ok(["login", "--email", "dev@example.com", "--password-stdin"], { stdin: "new battery staple" });
    const key = /password (\S+)/.exec(readFileSync(join(dev.home, ".netrc"), "utf8"))![1]!;
    await dev.ok(["logout"]);
    expect(readFileSync(join(dev.home, ".netrc"), "utf8")).not.toContain("127.0.0.1");
    const after = await dev.run(["apps"]);
    expect(after.code).toBe(3);
    expect(after.stderr).toBe(`error: not logged in to ${daemon.url}\nhint: run \`beamstalk login\`\n`);
    expect((await dev.run(["apps"], { env: { BEAMSTALK_API_KEY: key } })).code).toBe(3);
  });

  test("an unreachable server, a missing URL, an unknown command, --help", async () => {
    const down = await admin.run(["apps"], { env: { BEAMSTALK_URL: "http://127.0.0.1:9" } });
    expect(down.code).toBe(6);
    expect(down.stderr).toContain("error: cannot reach the Beamstalk server at http://127.0.0.1:9\nhint: is the server running? `beamstalk server`");
    const fresh = new CliUser("");
    const noUrl = await fresh.run(["apps"], { env: { BEAMSTALK_URL: "" } });
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toContain("error: no Beamstalk server given");
    // version answers for the CLI without a server; an unreachable one is an error.
    const alone = await fresh.run(["version", "--json"], { env: { BEAMSTALK_URL: "" } });
    expect(alone.code).toBe(0);
    expect(JSON.parse(alone.stdout)).toEqual({ client: expect.stringMatching(/^\d+\.\d+\.\d+/), server: null });
    expect((await fresh.run(["version"], { env: { BEAMSTALK_URL: "http://127.0.0.1:9" } })).code).toBe(6);
    fresh.cleanup();
    const unknown = await admin.run(["deploy-everything"]);
    expect(unknown.code).toBe(2);
    // A typo is an error however it is typed, --help or not, so a script does not pass on it.
    for (const args of [["nosuch"], ["nosuch", "--help"], ["nosuch", "-h"], ["help", "nosuch"], ["nosuch", "-a", "web"]]) {
      const res = await admin.run(args);
      expect({ args, code: res.code, stdout: res.stdout }).toEqual({ args, code: 2, stdout: "" });
      expect(res.stderr).toBe('error: unknown command "nosuch"\nhint: `beamstalk --help` lists the commands\n');
    }
    const typo = await admin.run(["confg:set", "--help"]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toBe('error: unknown command "confg:set"\nhint: did you mean `beamstalk config:set`? `beamstalk --help` lists the commands\n');
    const root = await admin.run(["--help"]);
    expect(root.code).toBe(0);
    expect(root.stdout).toContain("config:set");
    const help = await admin.run(["config:set", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--stdin");
    expect(help.stdout).toContain("--app");
  });

  test("apps:destroy needs --confirm; then the app and its data are gone", async () => {
    mkdirSync(join(daemon.dataDir, "slugs", "web"), { recursive: true });
    writeFileSync(join(daemon.dataDir, "slugs", "web", "x.tar.gz"), "slug");
    const noConfirm = await admin.run(["apps:destroy", "-a", "web"]);
    expect(noConfirm.code).toBe(2);
    expect(noConfirm.stderr).toBe("error: destroying web needs confirmation\nhint: run again with --confirm web\n");
    await admin.ok(["apps:destroy", "-a", "web", "--confirm", "web"]);
    expect((await admin.run(["apps:info", "-a", "web"])).code).toBe(4);
    expect(() => statSync(join(daemon.dataDir, "slugs", "web"))).toThrow();
  });

  test("no secret reached the daemon's log", () => {
    const log = daemon.log();
    expect(log).not.toContain("postgres://u:p@h");
    expect(log).not.toContain("correct horse");
    expect(log).not.toContain("battery staple");
    expect(log).not.toMatch(/bsk_|bsi_/);
    expect(log).toContain("config.change app=web");
  });
});
