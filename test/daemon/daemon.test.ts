import { afterEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BINARY, CliUser, type RunningDaemon, startDaemon, tempDir } from "../support/daemon.ts";

let daemons: RunningDaemon[] = [];
let users: CliUser[] = [];
afterEach(async () => {
  for (const d of daemons) await d.stop("SIGKILL");
  for (const u of users) u.cleanup();
  daemons = [];
  users = [];
});

async function start(dataDir?: string) {
  const d = await startDaemon(dataDir ? { dataDir } : {});
  daemons.push(d);
  return d;
}

function user(url: string) {
  const u = new CliUser(url);
  users.push(u);
  return u;
}

describe("beamstalk server", () => {
  test("first boot lays out the data directory, master.key 0600, a setup token, and logs the pragmas in force", async () => {
    const d = await start();
    const mode = (p: string) => statSync(p).mode & 0o777;
    expect(mode(d.dataDir)).toBe(0o700);
    expect(mode(join(d.dataDir, "master.key"))).toBe(0o600);
    expect(readFileSync(join(d.dataDir, "master.key"))).toHaveLength(32);
    expect(mode(join(d.dataDir, "setup-token"))).toBe(0o600);
    for (const dir of ["repos", "slugs", "cache", "logs", "certs", "backups"]) expect(statSync(join(d.dataDir, dir)).isDirectory()).toBe(true);
    expect(d.log()).toMatch(/info state\.opened path=\S+state\.db journal_mode=wal synchronous=2 foreign_keys=1 user_version=\d+/);
    expect(d.log()).not.toContain(readFileSync(join(d.dataDir, "setup-token"), "utf8").trim());
    const health = await (await fetch(`${d.url}/api/health`)).json();
    expect(health).toEqual({ ok: true, version: expect.any(String), ssh_port: expect.any(Number) });
  });

  test("the setup token claims the admin over HTTP once and is then deleted", async () => {
    const d = await start();
    const u = user(d.url);
    const tokenFile = join(d.dataDir, "setup-token");
    const copy = join(u.home, "token");
    writeFileSync(copy, readFileSync(tokenFile));
    const ok = await u.run(["signup", "--email", "root@example.com", "--setup-token-file", copy], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
    expect(ok.code).toBe(0);
    expect(existsSync(tokenFile)).toBe(false);
    const again = await user(d.url).run(["signup", "--email", "eve@example.com", "--setup-token-file", copy], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
    expect(again.code).toBe(4);
  });

  test("SIGTERM shuts down gracefully: exit 0, socket removed; a restart keeps everything", async () => {
    const d = await start();
    const u = user(d.url);
    await u.ok(["signup", "--email", "a@example.com", "--socket", d.socket], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
    await u.ok(["apps:create", "web"]);
    await u.ok(["config:set", "-a", "web", "A=1"]);
    expect(await d.stop("SIGTERM")).toBe(0);
    expect(d.log()).toContain("info daemon.shutdown signal=SIGTERM");
    expect(d.log()).toContain("info daemon.stopped");
    expect(existsSync(d.socket)).toBe(false);

    const again = await start(d.dataDir);
    expect(again.log()).not.toContain("master_key.created");
    expect(existsSync(join(d.dataDir, "setup-token"))).toBe(false);
    const u2 = user(again.url);
    await u2.ok(["login", "--email", "a@example.com"], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
    expect(JSON.parse(await u2.ok(["config", "-a", "web", "--json"]))).toEqual({ A: "1" });
  });

  test("refuses to start with a damaged master.key, or bad flags, with a clear message", async () => {
    const dataDir = join(tempDir("bad"), "data");
    const d = await start(dataDir);
    await d.stop();
    writeFileSync(join(dataDir, "master.key"), "short");
    for (const args of [
      ["server", "--data-dir", dataDir, "--http-port", "0", "--bind", "127.0.0.1"],
      ["server", "--data-dir", dataDir, "--http-port", "http"],
    ]) {
      const proc = Bun.spawn([BINARY, ...args], { stdout: "pipe", stderr: "pipe" });
      const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
      expect(code).not.toBe(0);
      expect(stderr).toMatch(/^error: .*(must hold exactly 32 bytes|must be a port number)/m);
      expect(stderr).not.toMatch(/at .*\(.*:\d+:\d+\)/);
    }
  });

  test("SIGKILL in the middle of a stream of config writes loses no acknowledged write", async () => {
    const d = await start();
    const u = user(d.url);
    await u.ok(["signup", "--email", "a@example.com", "--socket", d.socket], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
    await u.ok(["apps:create", "web"]);
    const key = /password (\S+)/.exec(readFileSync(join(u.home, ".netrc"), "utf8"))![1]!;
    const acked: string[] = [];
    let stop = false;
    const writer = async (lane: number) => {
      for (let i = 0; !stop && i < 5000; i++) {
        const name = `K${lane}_${i}`;
        try {
          const res = await fetch(`${d.url}/api/apps/web/config`, {
            method: "PATCH",
            headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
            body: JSON.stringify({ set: { [name]: `value-${i}` } }),
          });
          if (res.status === 200) acked.push(name);
        } catch {
          return; // the daemon is gone
        }
      }
    };
    const lanes = [0, 1, 2, 3].map(writer);
    while (acked.length < 150) await Bun.sleep(5);
    d.proc.kill("SIGKILL");
    stop = true;
    await Promise.all(lanes);
    await d.proc.exited;
    expect(acked.length).toBeGreaterThanOrEqual(150);

    const db = new Database(join(d.dataDir, "state.db"));
    expect(db.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
    const { n } = db.query("SELECT count(*) AS n FROM releases").get() as { n: number };
    expect(n).toBeGreaterThanOrEqual(acked.length);
    db.close();
    const again = await start(d.dataDir);
    const vars = (await (await fetch(`${again.url}/api/apps/web/config`, { headers: { authorization: `Bearer ${key}` } })).json()) as Record<string, string>;
    const lost = acked.filter((name) => !(name in vars));
    expect(lost).toEqual([]);
  });
});
