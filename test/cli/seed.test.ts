import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliUser, type RunningDaemon, startDaemon, tempDir } from "../support/daemon.ts";

/**
 * GIGALIXIR's own command names and forms, as its instructions write them with
 * `beamstalk` in place of `gigalixir`: the compiled binary against a real daemon.
 */
let daemon: RunningDaemon;
let admin: CliUser;

beforeAll(async () => {
  daemon = await startDaemon();
  admin = new CliUser(daemon.url);
  const res = await admin.run(["signup", "--email", "admin@example.com", "--password-stdin", "--socket", daemon.socket], { stdin: "correct horse\n" });
  if (res.code !== 0) throw new Error(res.stderr);
  await admin.ok(["apps:create", "web"]);
  await admin.ok(["apps:create", "api"]);
});

afterAll(async () => {
  await daemon?.stop();
  admin?.cleanup();
});

const formation = async (app: string) => JSON.parse(await admin.ok(["ps", "-a", app, "--json"])).formation;

describe("the seed's names for commands", () => {
  test("each alias runs the command it names", async () => {
    const same: [string[], string[]][] = [
      [["status", "-a", "web", "--json"], ["ps", "-a", "web", "--json"]],
      [["current_period_usage", "--json"], ["account:usage", "--json"]],
      [["invoices", "--json"], ["account:invoices", "--json"]],
    ];
    // The usage report ends "now": the two runs differ only there.
    const untilNow = (out: string) => out.replace(/"to": "[^"]+"/, '"to": "now"');
    for (const [alias, name] of same) {
      const [a, b] = [await admin.run(alias), await admin.run(name)];
      expect({ alias, code: a.code, stdout: untilNow(a.stdout) }).toEqual({ alias, code: 0, stdout: untilNow(b.stdout) });
    }
    // No database yet: the alias and the command fail alike.
    const [databases, pg] = [await admin.run(["databases", "-a", "web"]), await admin.run(["pg", "-a", "web"])];
    expect(databases.code).toBe(4);
    expect(databases).toEqual(pg);
  });

  test("--help of an alias is the command's help, and the help lists every alias", async () => {
    const help = (await admin.run(["--help"], { env: { NO_COLOR: "1" } })).stdout;
    const aliases = {
      ps: "status", pg: "databases", "pg:create": "create_database", "pg:scale": "scale_database", "pg:destroy": "delete_database",
      "ps:migrate": "migrate", "ps:remote_console": "remote_console", "ps:observer": "observer", "ps:ssh": "ssh",
      "account:usage": "current_period_usage", "account:invoices": "invoices", "ps:distillery": "distillery",
    };
    for (const [name, alias] of Object.entries(aliases)) {
      expect(help).toMatch(new RegExp(`^\\s+${name}, ${alias}\\s`, "m"));
      const res = await admin.run([alias, "--help"], { env: { NO_COLOR: "1" } });
      expect(res.code).toBe(0);
      expect(res.stdout).toContain(`beamstalk ${name}`);
    }
    const migrate = (await admin.run(["migrate", "--help"], { env: { NO_COLOR: "1" } })).stdout;
    expect(migrate).toContain("migration_app_name");
  });

  test("distillery and run MODULE FUNCTION: bad input is refused before anything is reached", async () => {
    const env = { BEAMSTALK_SSH_PORT: "1" };
    const cases: [string[], string][] = [
      [["distillery", "web", "stop"], 'error: not a release command this server runs: "stop"'],
      [["distillery", "-a", "web", "ping", "now"], "error: ping takes no argument"],
      [["distillery", "web", "ping", "-a", "api"], 'error: two apps given: "web" and -a "api"'],
      [["run", "web", "Tasks", "migrate;halt"], 'error: not an Elixir function name: "migrate;halt"'],
      [["run", "-a", "web", "Tasks-x", "migrate"], 'error: not an Elixir module name: "Tasks-x"'],
      [["run", "web", "Tasks", "migrate", "-a", "api"], 'error: two apps given: "web" and -a "api"'],
    ];
    for (const [args, message] of cases) {
      const res = await admin.run(args, { env });
      expect({ args, code: res.code, stdout: res.stdout }).toEqual({ args, code: 2, stdout: "" });
      expect(res.stderr).toStartWith(message);
    }
    // With a name the server checks and no release: the server's answer, for the app named first.
    const noRelease = await admin.run(["run", "web", "Tasks", "migrate"]);
    expect(noRelease.code).toBe(5);
    expect(noRelease.stderr).toContain("error: web has no deployed release to run a command in");
  });

  test("delete_database needs --confirm like pg:destroy; a bad migration app never reaches ssh", async () => {
    const del = await admin.run(["delete_database", "-a", "web"]);
    expect(del).toEqual({ code: 2, stdout: "", stderr: "error: this destroys the database\nhint: confirm with --confirm web\n" });
    for (const flag of [["--migration_app_name", "My.App"], ["--migration_app_name=x;id"], ["-m", "$(id)"]]) {
      const res = await admin.run(["migrate", "-a", "web", ...flag], { env: { BEAMSTALK_SSH_PORT: "1" } });
      expect({ flag, code: res.code }).toEqual({ flag, code: 2 });
      expect(res.stderr).toStartWith("error: not an OTP application name:");
    }
  });
});

describe("the app as the first argument", () => {
  test("`scale APP --replicas=2 --size=0.6`, as the seed writes it, reaches that app", async () => {
    // Scaling needs a running release (test/e2e/operate.test.ts scales one this way); here the server's answer names the app.
    const noRelease = (app: string) => ({ code: 7, stdout: "", stderr: `error: ${app} has no running release yet: git push first\nhint: the replicas that were running keep serving; \`beamstalk ps\` shows them\n` });
    expect(await admin.run(["scale", "web", "--replicas=2", "--size=0.6"])).toEqual(noRelease("web"));
    expect(await admin.run(["ps:scale", "api", "--replicas", "3"])).toEqual(noRelease("api"));
    expect(await admin.run(["scale", "api", "--replicas", "3", "-a", "api"])).toEqual(noRelease("api"));
  });

  test("commands with arguments of their own take the app before them; -a still works, and the same app twice", async () => {
    expect(await admin.ok(["status", "web", "--json"])).toBe(await admin.ok(["ps", "-a", "web", "--json"]));
    expect(JSON.parse(await admin.ok(["apps:info", "web", "--json"])).name).toBe("web");
    await admin.ok(["domains:add", "web", "www.example.com"]);
    await admin.ok(["domains:add", "-a", "api", "api.example.com"]);
    expect(JSON.parse(await admin.ok(["domains", "web", "--json"])).map((d: { domain: string }) => d.domain)).toContain("www.example.com");
    expect(JSON.parse(await admin.ok(["domains", "api", "--json"])).map((d: { domain: string }) => d.domain)).toEqual(["api.apps.test", "api.example.com"]);
    await admin.ok(["domains:remove", "web", "www.example.com", "-a", "web"]);
    expect(JSON.parse(await admin.ok(["domains", "-a", "web", "--json"])).map((d: { domain: string }) => d.domain)).not.toContain("www.example.com");
    expect(JSON.parse(await admin.ok(["releases", "web", "--json"]))).toEqual(JSON.parse(await admin.ok(["releases", "-a", "web", "--json"])));
  });

  test("bad input gets a clear error and changes nothing", async () => {
    const cases: [string[], number, string][] = [
      [["scale", "web", "--replicas=5", "-a", "api"], 2, 'error: two apps given: "web" and -a "api"\nhint: give the app once, as the first argument or with -a\n'],
      [["scale", "$(id)", "--replicas=5"], 2, "error: invalid app name"],
      [["scale", "nope", "--replicas=5"], 4, "error: app nope not found"],
      [["scale", "web", "api", "--replicas=5"], 2, 'error: unexpected argument "web"'],
      [["domains:add", "web", "x.example.com", "extra"], 2, 'error: unexpected argument "x.example.com"'],
    ];
    for (const [args, code, message] of cases) {
      const res = await admin.run(args);
      expect({ args, code: res.code }).toEqual({ args, code });
      expect(res.stderr).toStartWith(message);
      expect(res.stderr).toContain("hint: ");
    }
    expect(await formation("web")).toEqual({});
    expect(JSON.parse(await admin.ok(["domains", "-a", "web", "--json"])).map((d: { domain: string }) => d.domain)).not.toContain("x.example.com");
  });
});

describe("open", () => {
  test("prints the app's URL and opens nothing unless asked", async () => {
    expect(await admin.run(["open", "web"])).toEqual({ code: 0, stdout: "http://web.apps.test\n", stderr: "" });
    expect(await admin.ok(["open", "-a", "api"])).toBe("http://api.apps.test\n");
  });

  test("--browser hands the URL to xdg-open as one argument, when there is one", async () => {
    const bin = tempDir("xdg");
    const record = join(bin, "args");
    writeFileSync(join(bin, "xdg-open"), `#!/bin/sh\nprintf '%s\\n' "$#" "$@" > ${record}\n`);
    chmodSync(join(bin, "xdg-open"), 0o755);
    const opened = await admin.run(["open", "web", "--browser"], { env: { PATH: `${bin}:/usr/bin:/bin` } });
    expect(opened).toEqual({ code: 0, stdout: "http://web.apps.test\n", stderr: "" });
    expect(readFileSync(record, "utf8")).toBe("1\nhttp://web.apps.test\n");

    const none = await admin.run(["open", "web", "--browser"], { env: { PATH: tempDir("empty") } });
    expect(none).toEqual({
      code: 2,
      stdout: "http://web.apps.test\n",
      stderr: "error: xdg-open is not installed, so no browser was opened\nhint: open the URL above yourself, or install xdg-utils\n",
    });
  });

  test("bad input: an unknown app, a bad name, an unknown flag; nothing is opened", async () => {
    const bin = tempDir("xdg");
    writeFileSync(join(bin, "xdg-open"), `#!/bin/sh\ntouch ${join(bin, "opened")}\n`);
    chmodSync(join(bin, "xdg-open"), 0o755);
    const env = { PATH: `${bin}:/usr/bin:/bin` };
    expect((await admin.run(["open", "nope", "--browser"], { env })).code).toBe(4);
    expect((await admin.run(["open", "-a", "../x", "--browser"], { env })).code).toBe(2);
    expect((await admin.run(["open", "web", "--browse"], { env })).stderr).toStartWith("error: unknown flag --browse");
    expect(existsSync(join(bin, "opened"))).toBe(false);
  });
});

describe("account:destroy", () => {
  /** What the daemon still keeps of an account, read from its database. */
  const kept = (email: string) => {
    const db = new Database(join(daemon.dataDir, "state.db"), { readonly: true });
    try {
      const user = db.query("SELECT id FROM users WHERE email = ?").get(email) as { id: number } | null;
      if (!user) return null;
      const count = (table: string) => (db.query(`SELECT count(*) AS n FROM ${table} WHERE user_id = ?`).get(user.id) as { n: number }).n;
      return { api_keys: count("api_keys"), ssh_keys: count("ssh_keys") };
    } finally {
      db.close();
    }
  };

  test("needs --confirm EMAIL and no app of its own; then the account, its keys and SSH keys are gone", async () => {
    const invite = JSON.parse(await admin.ok(["invites:create", "dev@example.com", "--json"]));
    const dev = new CliUser(daemon.url);
    try {
      await dev.ok(["signup", "--email", "dev@example.com"], { env: { BEAMSTALK_PASSWORD: "battery staple", BEAMSTALK_INVITE: invite.code } });
      const dir = tempDir("ssh");
      Bun.spawnSync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dev", "-f", join(dir, "id")]);
      await dev.ok(["account:ssh_keys:add", join(dir, "id.pub")]);
      await dev.ok(["apps:create", "dev-app"]);
      await admin.ok(["access:add", "dev@example.com", "-a", "web"]);
      expect(kept("dev@example.com")).toEqual({ api_keys: 1, ssh_keys: 1 });

      const refused: [string[], number, string][] = [
        [["account:destroy"], 2, "error: destroying the account dev@example.com needs confirmation\nhint: run again with --confirm dev@example.com\n"],
        [["account:destroy", "--confirm", "admin@example.com"], 2, "error: destroying the account dev@example.com needs confirmation\nhint: run again with --confirm dev@example.com\n"],
        [["account:destroy", "--confirm", "dev@example.com"], 5, "error: dev@example.com still owns an app: dev-app\nhint: destroy them first (`beamstalk apps:destroy -a APP --confirm APP`)\n"],
      ];
      for (const [args, code, stderr] of refused) expect({ args, ...(await dev.run(args)) }).toEqual({ args, code, stdout: "", stderr });
      expect(kept("dev@example.com")).toEqual({ api_keys: 1, ssh_keys: 1 });
      expect((await dev.run(["apps:info", "-a", "dev-app"])).code).toBe(0);

      await dev.ok(["apps:destroy", "-a", "dev-app", "--confirm", "dev-app"]);
      const key = /password (\S+)/.exec(readFileSync(join(dev.home, ".netrc"), "utf8"))![1]!;
      const done = await dev.run(["account:destroy", "--confirm", "dev@example.com"]);
      expect(done).toEqual({ code: 0, stdout: "", stderr: "Destroyed the account dev@example.com; its API key is removed from ~/.netrc.\n" });
      expect(kept("dev@example.com")).toBeNull();
      expect(readFileSync(join(dev.home, ".netrc"), "utf8")).not.toContain("127.0.0.1");
      expect((await dev.run(["account"], { env: { BEAMSTALK_API_KEY: key } })).code).toBe(3);
      expect((await dev.run(["login", "--email", "dev@example.com", "--password", "battery staple"])).code).toBe(3);
      // The app it shared is still there, without it.
      expect(JSON.parse(await admin.ok(["access", "-a", "web", "--json"])).map((e: { email: string }) => e.email)).toEqual(["admin@example.com"]);
    } finally {
      dev.cleanup();
    }
  });

  test("the server's last admin cannot destroy its account", async () => {
    const owns = await admin.run(["account:destroy", "--confirm", "admin@example.com"]);
    expect(owns.code).toBe(5);
    expect(owns.stderr).toStartWith("error: admin@example.com still owns 2 apps: api, web\n");
    for (const app of ["api", "web"]) await admin.ok(["apps:destroy", "-a", app, "--confirm", app]);
    const last = await admin.run(["account:destroy", "--confirm", "admin@example.com"]);
    expect(last).toEqual({ code: 5, stdout: "", stderr: "error: admin@example.com is the only admin of this server\nhint: the server needs an admin; keep this account\n" });
    expect(JSON.parse(await admin.ok(["account", "--json"])).email).toBe("admin@example.com");
    expect(kept("admin@example.com")).toMatchObject({ api_keys: 1 });
  });
});
