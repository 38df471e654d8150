import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CliUser, type RunningDaemon, startDaemon } from "../support/daemon.ts";
import { createFixtureApp, removeAppContainers, sshConfigFor } from "../support/fixture-app.ts";
import { underLoad } from "../support/load.ts";
import { dockerOn, runningLabelled, testRunner } from "../support/target.ts";

/** Operating a running app for real: ps, scale, restart, crashes, a daemon killed with SIGKILL. */
const APP = `ops-${Math.random().toString(36).slice(2, 8)}`;
const LONG = 5 * 60_000;
let daemon: RunningDaemon;
let owner: CliUser;

async function get(path: string) {
  const res = await fetch(daemon.url + path, { headers: { host: `${APP}.apps.test` } });
  return { status: res.status, body: await res.text() };
}

async function ps() {
  return JSON.parse(await owner.ok(["ps", "-a", APP, "--json"])) as {
    release: number;
    formation: Record<string, { count: number; size: number }>;
    replicas: { name: string; state: string; size: number; restarts: number; memory_bytes: number | null; memory_limit_bytes: number | null; uptime_seconds: number | null }[];
  };
}

/** Asks which replica answers (its node name) through the router while `work` runs. */
const loaded = <T>(work: () => Promise<T>) => underLoad(() => get("/env/RELEASE_NODE"), work, { pauseMs: 15, maxMs: 4 * 60_000 });

beforeAll(async () => {
  daemon = await startDaemon();
  owner = new CliUser(daemon.url);
  await owner.ok(["signup", "--email", "ops@example.com", "--socket", daemon.socket], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
  await (await createFixtureApp(owner, APP)).push();
}, LONG);

afterAll(async () => {
  const cli = new CliUser(daemon.url);
  await cli.run(["login", "--email", "ops@example.com"], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
  await cli.run(["apps:destroy", "-a", APP, "--confirm", APP]);
  await daemon?.stop();
  removeAppContainers(APP);
  owner?.cleanup();
  cli.cleanup();
}, LONG);

describe("operating a running app", () => {
  test("ps shows the formation and each replica with memory and uptime", async () => {
    const p = await ps();
    expect(p.release).toBe(1);
    expect(p.formation.web).toEqual({ count: 1, size: 1 });
    expect(p.replicas).toHaveLength(1);
    expect(p.replicas[0]).toMatchObject({ name: "web.1", state: "running", size: 1, restarts: 0 });
    expect(p.replicas[0]!.memory_bytes).toBeGreaterThan(1_000_000);
    expect(p.replicas[0]!.memory_limit_bytes).toBe(1024 ** 3);
    const table = await owner.ok(["ps", "-a", APP]);
    expect(table).toMatch(/^TYPE\s+DESIRED\s+RUNNING\s+SIZE\s+RELEASE\nweb\s+1\s+1\s+1\s+v1\n/);
  }, LONG);

  test("ps:rpc and ps:eval reach the running node over SSH; the session is in apps:activity", async () => {
    const env = { BEAMSTALK_SSH_CONFIG: await sshConfigFor(owner) };
    expect(await owner.ok(["ps:eval", "-a", APP, "IO.puts(6 * 7)"], { env })).toBe("42\n");
    expect(await owner.ok(["ps:rpc", "-a", APP, 'IO.puts(System.get_env("APP_NAME"))'], { env })).toBe(`${APP}\n`);
    const activity = await owner.ok(["apps:activity", "-a", APP]);
    expect(activity).toContain("Ran eval on web.1");
    expect(activity).not.toContain("6 * 7");
  }, LONG);

  test("logs merge build and replica output; each release keeps its build log", async () => {
    const lines = (await owner.ok(["logs", "-a", APP, "--num", "200", "--no-tail"])).split("\n");
    expect(lines.some((l) => /^\S+Z \S+\[build\]: .*Building the release/.test(l))).toBe(true);
    expect(lines.some((l) => /^\S+Z web\.1\[app\]: /.test(l))).toBe(true);
    const info = await owner.ok(["releases:info", "-a", APP, "-r", "1", "--build-log"]);
    expect(info).toContain("Compiling");
    expect(info).toContain("mix release");
  }, LONG);

  test("maintenance mode answers 503 while the app keeps running", async () => {
    await owner.ok(["maintenance:on", "-a", APP]);
    const res = await get("/");
    expect(res.status).toBe(503);
    expect(res.body).toMatch(/maintenance/i);
    expect((await ps()).replicas.every((r) => r.state === "running")).toBe(true);
    await owner.ok(["maintenance:off", "-a", APP]);
    expect(await get("/")).toEqual({ status: 200, body: "hello v1\n" });
  }, LONG);

  test("ps:scale up to 3 and back down to 2 under steady traffic: no failed request", async () => {
    const up = await loaded(() => owner.ok(["ps:scale", "-a", APP, "--replicas", "3"]));
    expect(up.failures).toEqual([]);
    expect((await ps()).replicas.filter((r) => r.state === "running")).toHaveLength(3);
    const spread = await loaded(async () => Bun.sleep(1500));
    expect(spread.bodies.size).toBe(3);
    // GIGALIXIR's form: the app first, --replicas=N.
    const down = await loaded(() => owner.ok(["scale", APP, "--replicas=2"]));
    expect(down.failures).toEqual([]);
    expect((await ps()).replicas.map((r) => r.name).sort()).toEqual(["web.1", "web.2"]);
  }, LONG);

  test("docker kill of a replica: it is restarted, and only requests in flight at the kill can fail", async () => {
    const victim = runningLabelled(`beamstalk.app=${APP}`, "beamstalk.index=2")[0] ?? "";
    expect(victim).not.toBe("");
    let killedAt = 0;
    const { failures } = await loaded(async () => {
      await Bun.sleep(500);
      killedAt = Date.now();
      dockerOn(victim, "kill", victim);
      for (let i = 0; i < 100; i++) {
        await Bun.sleep(200);
        const r = (await ps()).replicas.find((x) => x.name === "web.2");
        if (r?.state === "running" && r.restarts >= 1) break;
      }
      await Bun.sleep(1500);
    });
    expect(failures.length).toBeLessThanOrEqual(3);
    // On one host the kill is an engine event and the route drops the replica at once. On Swarm the
    // runner polls tasks (1 s) after the host reports the task dead, and a request already sent to the
    // vanished replica (no reset comes from another host) ends with a 502 when the route drops it and
    // cuts its connections (Router.abandon): 0.7 s after the kill here. The cut covers the slow path
    // too: a keep-alive connection the front handed there (the maintenance test above) stays there.
    const window = testRunner() === "swarm" ? 5_000 : 1000;
    if (testRunner() === "swarm") console.log(`[operate on swarm] failures after the kill at ${failures.map((f) => `${f.at - killedAt} ms`).join(", ") || "none"}`);
    for (const f of failures) expect({ after: f.at - killedAt < window ? "in time" : f.at - killedAt, what: f.what.slice(0, 3) }).toEqual({ after: "in time", what: testRunner() === "swarm" ? "502" : f.what.slice(0, 3) });
    const revived = (await ps()).replicas.find((x) => x.name === "web.2")!;
    expect(revived).toMatchObject({ state: "running" });
    expect(revived.restarts).toBeGreaterThanOrEqual(1);
    const after = await loaded(async () => Bun.sleep(1500));
    expect(after.failures).toEqual([]);
    expect(after.bodies.size).toBe(2);
  }, LONG);

  test("ps:kill APP web.2: the replica dies as in a crash and comes back; web.1 serves throughout", async () => {
    const before = await ps();
    const restarts = (name: string, p: typeof before) => p.replicas.find((x) => x.name === name)!.restarts;
    const missing = await owner.run(["ps:kill", APP, "web.9"]);
    expect(missing).toEqual({ code: 4, stdout: "", stderr: `error: ${APP} has no running replica web.9\nhint: \`beamstalk ps\` lists them\n` });
    const bad = await owner.run(["ps:kill", APP, "web;id"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toStartWith("error: not a replica name: web;id");
    let killedAt = 0;
    let back = 0;
    const { failures, bodies } = await loaded(async () => {
      await Bun.sleep(500);
      killedAt = Date.now();
      const killed = await owner.run(["ps:kill", APP, "web.2"]);
      expect(killed).toMatchObject({ code: 0, stdout: "" });
      expect(killed.stderr).toContain(`Killed web.2 of ${APP}`);
      for (let i = 0; i < 150 && !back; i++) {
        await Bun.sleep(200);
        const r = (await ps()).replicas.find((x) => x.name === "web.2");
        if (r?.state === "running" && r.restarts > restarts("web.2", before)) back = Date.now();
      }
      await Bun.sleep(1500);
    });
    console.log(`[ps:kill] web.2 running again ${back - killedAt} ms after the kill; failed requests: ${failures.length} (${failures.map((f) => `${f.at - killedAt} ms ${f.what.slice(0, 3)}`).join(", ") || "none"})`);
    expect(back).toBeGreaterThan(0);
    // Only requests around the kill may fail: the release dies first, and the route drops the
    // replica when the engine reports the container dead (measured here, two runs: 3 × 502 within 0.5 and 0.65 s).
    expect(failures.length).toBeLessThanOrEqual(10);
    for (const f of failures) expect(f.at - killedAt).toBeLessThan(testRunner() === "swarm" ? 5_000 : 2_000);
    expect(bodies.size).toBeGreaterThanOrEqual(2);
    // A running container is routed again once it answers its health check (the BEAM boots
    // first): within 30 s, then both replicas serve with no failure.
    for (let i = 0; i < 60; i++) {
      const probe = await loaded(async () => Bun.sleep(500));
      if (probe.bodies.size === 2 && probe.failures.length === 0) break;
    }
    const steady = await loaded(async () => Bun.sleep(1500));
    expect(steady.failures).toEqual([]);
    expect(steady.bodies.size).toBe(2);
    const after = await ps();
    expect(restarts("web.1", after)).toBe(restarts("web.1", before));
    expect(after.replicas.map((r) => `${r.name} ${r.state}`).sort()).toEqual(["web.1 running", "web.2 running"]);
    expect(await owner.ok(["apps:activity", "-a", APP])).toContain("Killed web.2");
    expect(await owner.ok(["logs", "-a", APP, "--num", "500", "--no-tail"])).toContain("[platform]: web.2 killed (by ops@example.com)");
  }, LONG);

  test("what the platform did is in the app's log: releases, scaling, restarts after a crash", async () => {
    const log = await owner.ok(["logs", "-a", APP, "--num", "500", "--no-tail"]);
    expect(log).toMatch(/beamstalk\[platform\]: Release v1 \(Deploy [0-9a-f]{7}\) is live/);
    expect(log).toContain("[platform]: Scaled to web=3×1 (by ops@example.com)");
    expect(log).toContain("[platform]: web.2 stopped unexpectedly; restarted it (1×)");
  }, LONG);

  test("ps:restart and a resize roll through health checks with no failed request", async () => {
    const before = (await loaded(async () => Bun.sleep(500))).bodies;
    const restart = await loaded(() => owner.ok(["ps:restart", "-a", APP]));
    expect(restart.failures).toEqual([]);
    const after = (await loaded(async () => Bun.sleep(800))).bodies;
    for (const node of after) expect(before.has(node)).toBe(false);
    const resize = await loaded(() => owner.ok(["ps:scale", "-a", APP, "--size", "2"]));
    expect(resize.failures).toEqual([]);
    const p = await ps();
    expect(p.formation.web).toEqual({ count: 2, size: 2 });
    expect(p.replicas.every((r) => r.size === 2 && r.memory_limit_bytes === 2 * 1024 ** 3)).toBe(true);
  }, LONG);

  test("bad scale requests change nothing", async () => {
    for (const [args, message] of [
      [["--replicas", "-1"], "replicas must be a whole number"],
      [["--size", "0.3"], "size must be 0.5 to 16 in steps of 0.1"],
      [["--size", "1.25"], "size must be 0.5 to 16 in steps of 0.1"],
      [["--replicas", "2", "--process", "worker"], "has no process type \"worker\""],
    ] as const) {
      const res = await owner.run(["ps:scale", "-a", APP, ...args]);
      expect(res.code).toBe(2);
      expect(res.stderr).toContain(message);
    }
    expect((await ps()).formation.web).toEqual({ count: 2, size: 2 });
  }, LONG);

  test("the daemon killed with SIGKILL comes back knowing every replica and routing to them", async () => {
    const before = (await ps()).replicas.map((r) => r.name).sort();
    daemon.proc.kill("SIGKILL");
    await daemon.proc.exited;
    daemon = await startDaemon({ dataDir: daemon.dataDir });
    owner = Object.assign(new CliUser(daemon.url), {});
    await owner.ok(["login", "--email", "ops@example.com"], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
    const p = await ps();
    expect(p.replicas.map((r) => r.name).sort()).toEqual(before);
    expect(p.replicas.every((r) => r.state === "running")).toBe(true);
    expect((await get("/")).body).toBe("hello v1\n");
  }, LONG);

  test("scaling to 0 stops everything; scaling up serves again", async () => {
    await owner.ok(["ps:scale", "-a", APP, "--replicas", "0"]);
    expect((await ps()).replicas).toEqual([]);
    expect((await get("/")).status).toBe(503);
    await owner.ok(["ps:scale", "-a", APP, "--replicas", "1", "--size", "1"]);
    expect(await get("/")).toEqual({ status: 200, body: "hello v1\n" });
  }, LONG);
});
