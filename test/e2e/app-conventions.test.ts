import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type CliUser, type RunningDaemon, startDaemon } from "../support/daemon.ts";
import { daemonWithFixture, type FixtureApp, tearDown } from "../support/fixture-app.ts";
import { underLoad } from "../support/load.ts";

/**
 * What teams bring from Heroku and Dokku, for real: app.json (formation, a
 * startup health check, cron) and a Procfile release phase, on the hello fixture
 * deployed by git push, with managed PostgreSQL for the release phase's marker.
 */
const APP = `conv-${Math.random().toString(36).slice(2, 8)}`;
const LONG = 8 * 60_000;
let daemon: RunningDaemon;
let owner: CliUser;
let fixture: FixtureApp;

/** /count answers 1, 2, 3… per node: the check passes at the third answer, so the first two hold the rollout. */
const HEALTH = { web: [{ type: "startup", name: "third-count", path: "/count", content: "3", attempts: 40, wait: 1, timeout: 2 }] };
const MARKER_RELEASE = `release: bin/hello eval 'Hello.Marker.write("migrated-" <> System.fetch_env!("BEAMSTALK_RELEASE"))'\n`;

async function get(path: string) {
  const res = await fetch(daemon.url + path, { headers: { host: `${APP}.apps.test` } });
  return { status: res.status, body: await res.text() };
}

function write(file: string, text: string) {
  writeFileSync(join(fixture.repo, file), text);
}

function setVersion(marker: string) {
  const file = join(fixture.repo, "lib/hello/version.ex");
  writeFileSync(file, readFileSync(file, "utf8").replace(/"hello v[^"]*"/, `"${marker}"`));
}

/** Commits everything and pushes; resolves with git's exit code and output (remote: lines are on stderr). */
async function commitAndPush(message: string) {
  await fixture.git(["add", "-A"]);
  await fixture.git(["commit", "-qm", message]);
  return fixture.git(["push", "beamstalk", "main"]);
}

const releases = async () => JSON.parse(await owner.ok(["releases", "-a", APP, "--json"])) as { version: number; status: string }[];

beforeAll(async () => {
  ({ daemon, owner, fixture } = await daemonWithFixture(APP));
}, LONG);

afterAll(() => tearDown(owner, daemon, APP), LONG);

describe("app.json and the release phase", () => {
  test("first push: app.json formation starts 2 web replicas; the startup check holds each until it passes; unknown keys warn", async () => {
    setVersion("hello v1");
    write("app.json", JSON.stringify({ name: "hello", formation: { web: { quantity: 2 } }, healthchecks: HEALTH, addons: ["heroku-postgresql"] }, null, 2));
    const push = await commitAndPush("app.json");
    expect({ code: push.code, err: push.code === 0 ? "" : push.err }).toEqual({ code: 0, err: "" });
    expect(push.err).toMatch(/app\.json line \d+: "addons" is not used by Beamstalk; ignored/);
    expect(push.err).toContain("app.json formation: web 2 × size 1");
    const lines = push.err.split("\n");
    for (const replica of ["web.1", "web.2"]) {
      // Answers 1 and 2 failed the check (after refused connections while the node booted), answer 3 passed it.
      const misses = lines.filter((l) => l.includes(`${replica}: third-count: attempt`) && l.includes('/count did not contain "3"'));
      expect(misses).toHaveLength(2);
      const healthy = lines.findIndex((l) => l.includes(`${replica} is healthy`));
      expect(lines.indexOf(misses[1]!)).toBeLessThan(healthy);
    }
    expect(push.err.indexOf("web.2 is healthy")).toBeLessThan(push.err.indexOf("is live"));
    const ps = JSON.parse(await owner.ok(["ps", "-a", APP, "--json"]));
    expect(ps.formation.web).toEqual({ count: 2, size: 1 });
    expect(ps.replicas.filter((r: { state: string }) => r.state === "running")).toHaveLength(2);
    expect((await get("/")).body).toBe("hello v1\n");
    // ps:scale wins over app.json from here on.
    await owner.ok(["ps:scale", "-a", APP, "--replicas", "1"]);
  }, LONG);

  test("a release phase writes a marker that the new release then serves; it is no process type", async () => {
    await owner.ok(["pg:create", "-a", APP]);
    write("Procfile", MARKER_RELEASE);
    setVersion("hello v2");
    const push = await commitAndPush("release phase");
    expect({ code: push.code, err: push.code === 0 ? "" : push.err }).toEqual({ code: 0, err: "" });
    const version = (await releases())[0]!.version;
    expect(push.err).toContain("Running the release phase (Procfile release): bin/hello eval");
    expect(push.err.indexOf("release phase done")).toBeLessThan(push.err.indexOf(`starting web.1 of v${version}`));
    expect((await get("/marker")).body).toBe(`migrated-${version}`);
    expect((await get("/")).body).toBe("hello v2\n");
    const ps = JSON.parse(await owner.ok(["ps", "-a", APP, "--json"]));
    expect(Object.keys(ps.formation)).toEqual(["web"]);
    expect(ps.formation.web.count).toBe(1); // the scale above, not app.json's 2
    // A config change is a new release: the release phase runs for it too (Heroku's rule).
    await owner.ok(["config:set", "-a", APP, "GREETING=hi"]);
    const after = (await releases())[0]!.version;
    expect(after).toBe(version + 1);
    expect((await get("/marker")).body).toBe(`migrated-${after}`);
  }, LONG);

  test("a failing release phase fails the release: the push says why, the old release serves with 0 failed requests", async () => {
    const before = (await releases())[0]!;
    write("Procfile", "release: echo checking the schema; echo schema is behind >&2; exit 3\n");
    setVersion("hello v3");
    const loaded = await underLoad(() => get("/"), () => commitAndPush("failing release phase"));
    const push = loaded.result;
    expect(push.code).not.toBe(0);
    expect(push.err).toContain("checking the schema");
    expect(push.err).toContain("schema is behind");
    expect(push.err).toContain("release phase (Procfile release) failed with exit code 3");
    expect(push.err).toContain("push rejected; the running release was not changed");
    expect(push.err).not.toContain("starting web.1");
    expect(loaded.failures).toEqual([]);
    expect(loaded.ok).toBeGreaterThan(20);
    expect([...loaded.bodies]).toEqual(["hello v2\n"]);
    const [failed, serving] = await releases();
    expect(failed).toMatchObject({ version: before.version + 1, status: "failed" });
    expect(serving).toMatchObject({ version: before.version, status: "succeeded" });
    const info = await owner.ok(["releases:info", "-a", APP, "--version", String(failed!.version), "--build-log"]);
    expect(info).toContain("schema is behind");
    expect(info).toContain("failed with exit code 3");
  }, LONG);

  test("a release phase past its time limit fails the release the same way", async () => {
    await owner.ok(["config:set", "-a", APP, "BEAMSTALK_RELEASE_TIMEOUT=10"]);
    write("Procfile", "release: sleep 60\n");
    const began = Date.now();
    const push = await commitAndPush("slow release phase");
    expect(push.code).not.toBe(0);
    expect(push.err).toContain("release phase (Procfile release) ran past its time limit of 10 s and was stopped");
    expect(Date.now() - began).toBeLessThan(120_000);
    expect((await get("/")).body).toBe("hello v2\n");
  }, LONG);

  test("malformed app.json fails the build with the line and the reason", async () => {
    write("Procfile", "");
    write("app.json", '{\n  "formation": {\n    "web": { "quantity": 1, }\n  }\n}\n');
    const push = await commitAndPush("broken app.json");
    expect(push.code).not.toBe(0);
    expect(push.err).toContain('app.json line 3: a trailing comma before "}"');
    expect((await get("/")).body).toBe("hello v2\n");
  }, LONG);
});

describe("the release phase on rollback", () => {
  test("releases:rollback runs the release phase of the release it rolls back to", async () => {
    const rollback = await owner.run(["releases:rollback", "-a", APP]);
    const [latest] = await releases();
    // Without a push to stream to, the release phase's output is in the app's log as release.vN.
    const phaseLog = (await owner.ok(["logs", "-a", APP, "-n", "300", "--no-tail"])).split("\n").filter((l) => l.includes(`release.v${latest!.version}[app]`));
    expect({ code: rollback.code, stderr: rollback.stderr, phaseLog: rollback.code === 0 ? [] : phaseLog }).toEqual({ code: 0, stderr: expect.any(String), phaseLog: [] });
    expect(phaseLog.join("\n")).toContain("Running the release phase (Procfile release)");
    expect(latest).toMatchObject({ status: "succeeded" });
    expect((await get("/marker")).body).toBe(`migrated-${latest!.version}`);
  }, LONG);
});

describe("scheduled jobs (app.json cron)", () => {
  const TICK = "echo cron-tick-$(date +%s)";
  const SLOW = "echo slow-start; sleep 100; echo slow-done";
  const FAIL = "echo about to fail; exit 4";
  let ids: Record<string, string>;

  test("an entry every minute runs twice, an overlapping run is skipped, a failed run shows in ps and apps:activity", async () => {
    const cron = [{ schedule: "* * * * *", command: TICK }, { schedule: "* * * * *", command: SLOW }, { schedule: "*/1 * * * *", command: FAIL }];
    write("app.json", JSON.stringify({ healthchecks: HEALTH, cron, scripts: { dokku: { postdeploy: "echo notifying; exit 5" } } }, null, 2));
    const push = await commitAndPush("cron");
    expect({ code: push.code, err: push.code === 0 ? "" : push.err }).toEqual({ code: 0, err: "" });
    // The post-deploy script runs once the release serves; its failure is reported and undoes nothing.
    expect(push.err).toContain("Post-deploy (app.json scripts.dokku.postdeploy): echo notifying; exit 5");
    expect(push.err).toContain("notifying");
    expect(push.err.indexOf("is live")).toBeLessThan(push.err.indexOf("Post-deploy"));
    expect(push.err).toMatch(/post-deploy failed with exit code 5; v\d+ stays live/);
    expect((await releases())[0]).toMatchObject({ status: "succeeded" });
    type Entry = { id: string; command: string; running: boolean; skipped_since_last_run: number; next_run: string; last_run: { status: string; exit_code: number | null; trigger: string; finished_at: string | null } | null };
    const list = async () => JSON.parse(await owner.ok(["cron", "-a", APP, "--json"])) as Entry[];
    const entries = await list();
    ids = Object.fromEntries(entries.map((e) => [e.command, e.id]));
    expect(Object.keys(ids).sort()).toEqual([FAIL, SLOW, TICK].sort());
    for (const e of entries) expect(Date.parse(e.next_run) % 60_000).toBe(0);
    const began = Date.now();
    // Two minute boundaries pass, and the slow run started at the first is still going at the second.
    const ticks = async () => (await owner.ok(["logs", "-a", APP, "-n", "1000", "--no-tail"])).split("\n").filter((l) => l.includes(`cron.${ids[TICK]}`) && l.includes("cron-tick-")).length;
    const deadline = Date.now() + 200_000;
    while (Date.now() < deadline) {
      const now = await list();
      const done = (command: string) => now.find((e) => e.command === command)!.last_run?.finished_at;
      if ((await ticks()) >= 2 && now.find((e) => e.command === SLOW)!.skipped_since_last_run >= 1 && done(TICK) && done(FAIL)) break;
      await Bun.sleep(2000);
    }
    console.log(`two cron minutes took ${((Date.now() - began) / 1000).toFixed(0)} s`);
    expect(await ticks()).toBeGreaterThanOrEqual(2);
    const now = await list();
    const slow = now.find((e) => e.command === SLOW)!;
    expect(slow).toMatchObject({ running: true, skipped_since_last_run: 1 });
    expect(now.find((e) => e.command === TICK)!.last_run).toMatchObject({ status: "succeeded", exit_code: 0, trigger: "schedule" });
    expect(now.find((e) => e.command === FAIL)!.last_run).toMatchObject({ status: "failed", exit_code: 4 });
    const logText = await owner.ok(["logs", "-a", APP, "-n", "500", "--no-tail"]);
    expect(logText).toContain(`cron.${ids[SLOW]} (* * * * *) was due; skipped, the previous run is still running`);
    expect(logText).toContain("about to fail");
    // cron:run of the running entry is refused; another starts now.
    const refused = await owner.run(["cron:run", "-a", APP, ids[SLOW]!]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`cron entry ${ids[SLOW]} is running now`);
    const manual = JSON.parse(await owner.ok(["cron:run", "-a", APP, ids[TICK]!, "--json"]));
    expect(manual).toMatchObject({ entry: ids[TICK], status: "running", trigger: "manual" });
    const ps = await owner.ok(["ps", "-a", APP]);
    expect(ps).toContain(`cron.${ids[FAIL]}: last run failed (exit 4)`);
    const activity = await owner.ok(["apps:activity", "-a", APP]);
    expect(activity).toContain(`Cron ${ids[FAIL]} (*/1 * * * *) failed (exit 4)`);
    expect(activity).toContain(`Ran cron ${ids[TICK]} now`);
    const table = await owner.ok(["cron", "-a", APP]);
    expect(table).toContain(ids[FAIL]!);
  }, LONG);

  test("the runs survive a daemon restart; a run the daemon stopped during is recorded as failed", async () => {
    // Restart between minute boundaries: no run starts meanwhile, and the slow one is running.
    while (new Date().getUTCSeconds() < 10 || new Date().getUTCSeconds() > 35) await Bun.sleep(500);
    type Entry = { id: string; running: boolean; last_run: { id: number; status: string; detail: string | null } | null };
    const before = JSON.parse(await owner.ok(["cron", "-a", APP, "--json"])) as Entry[];
    const { dataDir, url } = daemon;
    await daemon.stop();
    // The same port: the owner's saved API key is for this URL.
    daemon = await startDaemon({ dataDir, httpPort: Number(new URL(url).port) });
    const after = JSON.parse(await owner.ok(["cron", "-a", APP, "--json"])) as Entry[];
    expect(after.map((e) => e.id).sort()).toEqual(before.map((e) => e.id).sort());
    for (const b of before) {
      const a = after.find((e) => e.id === b.id)!;
      expect(a.running).toBe(false);
      if (b.running) expect(a.last_run).toMatchObject({ id: b.last_run!.id, status: "failed", detail: "stopped: the daemon stopped during the run" });
      else expect(a.last_run).toEqual(b.last_run);
    }
    expect(before.some((b) => b.running)).toBe(true);
    expect(after.find((e) => e.id === ids[FAIL])!.last_run).toMatchObject({ status: "failed" });
  }, LONG);
});
