import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { BINARY, CliUser, type RunningDaemon, startDaemon } from "../support/daemon.ts";
import { createFixtureApp, type FixtureApp, sshConfigFor, tearDown } from "../support/fixture-app.ts";

/**
 * The daemon SIGKILLed at the points where work is half-done, then started
 * again on the same data directory and port: at boot it reconciles. A one-off
 * job and a build nobody waits for are removed (the build records nothing),
 * a release left pending mid-rollout is rolled out again to the end, and the
 * supervisor's restart counts are still there.
 */
const APP = `crash-${Math.random().toString(36).slice(2, 8)}`;
const LONG = 6 * 60_000;
let daemon: RunningDaemon;
let owner: CliUser;
let fixture: FixtureApp;
let port = 0;

const labelled = (...labels: string[]) =>
  Bun.spawnSync(["docker", "ps", "-aq", ...labels.flatMap((l) => ["--filter", `label=${l}`])]).stdout.toString().split("\n").filter(Boolean);

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await Bun.sleep(100);
  }
  throw new Error(`${what}: not within ${ms / 1000} s`);
}

/** SIGKILL, then the same data directory and port again (so the CLI's URL and git's remote still work). */
async function crashAndRestart(): Promise<void> {
  daemon.proc.kill("SIGKILL");
  await daemon.proc.exited;
  const dataDir = daemon.dataDir;
  daemon = await startDaemon({ dataDir, httpPort: port });
}

/** A git push running in the background (its own process group), its output read as it comes. */
function pushInBackground() {
  const proc = Bun.spawn(["git", "push", "beamstalk", "main"], { cwd: fixture.repo, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: owner.home, GIT_TERMINAL_PROMPT: "0" }, stdout: "pipe", stderr: "pipe", detached: true });
  let err = "";
  const reading = (async () => {
    for await (const chunk of proc.stderr) err += new TextDecoder().decode(chunk);
  })();
  return { proc, output: () => err, done: async () => (await Promise.all([proc.exited, reading]))[0] };
}

const releases = async () => JSON.parse(await owner.ok(["releases", "-a", APP, "--json"])) as { version: number; status: string }[];
const activity = () => owner.ok(["apps:activity", "-a", APP]);

beforeAll(async () => {
  daemon = await startDaemon();
  port = Number(new URL(daemon.url).port);
  owner = new CliUser(daemon.url);
  await owner.ok(["signup", "--email", "crash@example.com", "--socket", daemon.socket], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
  fixture = await createFixtureApp(owner, APP);
  expect((await fixture.push()).err).toContain("web.1 is healthy");
}, LONG);

afterAll(() => tearDown(owner, daemon, APP), LONG);

describe("a daemon killed mid-work leaves nothing half-done", () => {
  test("a one-off job whose client went with the daemon is removed at boot", async () => {
    const client = Bun.spawn([BINARY, "run", "-a", APP, "--", "sleep", "300"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: owner.home, BEAMSTALK_URL: daemon.url }, stdout: "ignore", stderr: "ignore" });
    const job = await until("the job's container", 60_000, () => labelled("beamstalk.job=true", `beamstalk.app=${APP}`)[0]);
    await crashAndRestart();
    client.kill();
    await until("the orphaned job removed", 30_000, () => (labelled("beamstalk.job=true", `beamstalk.app=${APP}`).includes(job) ? undefined : true));
    expect(await activity()).toContain("Removed a one-off job left running when the daemon stopped");
  }, LONG);

  test("a build whose daemon died is removed and records nothing", async () => {
    const before = await releases();
    await Bun.write(`${fixture.repo}/lib/hello/version.ex`, readFileSync(`${fixture.repo}/lib/hello/version.ex`, "utf8").replace(/"hello v[^"]*"/, '"hello v2"'));
    await fixture.git(["commit", "-qam", "v2"]);
    const push = pushInBackground();
    const build = await until("the build container", 60_000, () => labelled("beamstalk.role=build", `beamstalk.app=${APP}`)[0]);
    await crashAndRestart();
    expect(await push.done()).not.toBe(0);
    await until("the orphaned build removed", 30_000, () => (labelled("beamstalk.role=build", `beamstalk.app=${APP}`).includes(build) ? undefined : true));
    expect(await releases()).toEqual(before);
    expect(await activity()).toContain("Removed a build left running when the daemon stopped");
    const res = await fetch(daemon.url, { headers: { host: `${APP}.apps.test` } });
    expect(await res.text()).toBe("hello v1\n");
  }, LONG);

  test("a push whose git client goes away mid-build is cancelled: the build container stops and nothing is recorded", async () => {
    const before = await releases();
    const activityBefore = await activity();
    const push = pushInBackground();
    const build = await until("the build container", 60_000, () => labelled("beamstalk.role=build", `beamstalk.app=${APP}`)[0]);
    // git and its remote helper, as Ctrl-C would end them.
    process.kill(-push.proc.pid, "SIGKILL");
    await push.done();
    await until("the build container gone", 30_000, () => (labelled("beamstalk.role=build", `beamstalk.app=${APP}`).includes(build) ? undefined : true));
    await Bun.sleep(1000);
    expect(await releases()).toEqual(before);
    expect(await activity()).toBe(activityBefore);
    expect(daemon.log()).toMatch(/deploy\.failed app=\S+ sha=\w+ error="(build cancelled|the push was cancelled)/);
    const res = await fetch(daemon.url, { headers: { host: `${APP}.apps.test` } });
    expect(await res.text()).toBe("hello v1\n");
  }, LONG);

  test("a release left pending mid-rollout is rolled out again at boot: it serves, and no replica of the old one is left", async () => {
    const v = (await releases())[0]!.version + 1;
    const push = pushInBackground();
    await until(`the rollout of v${v}`, 120_000, () => (push.output().includes(`starting web.1 of v${v}`) ? true : undefined));
    expect((await releases()).find((r) => r.version === v)?.status).toBe("pending");
    await crashAndRestart();
    await push.done();
    await until(`v${v} succeeded`, 120_000, async () => ((await releases()).find((r) => r.version === v)?.status === "succeeded" ? true : undefined));
    const res = await fetch(daemon.url, { headers: { host: `${APP}.apps.test` } });
    expect(await res.text()).toBe("hello v2\n");
    // Live once routed; the activity says so once the old replica is drained too.
    const log = await until("the activity of the finished rollout", 60_000, async () => {
      const text = await activity();
      return text.includes(`v${v} is live: its rollout finished after the daemon restarted`) ? text : undefined;
    });
    expect(log).toContain(`v${v} was left pending when the daemon stopped: rolling it out again`);
    await until(`only v${v}'s replica left`, 60_000, () => {
      const running = Bun.spawnSync(["docker", "ps", "--filter", `label=beamstalk.app=${APP}`, "--filter", "label=beamstalk.process", "--format", '{{.Label "beamstalk.release"}}']).stdout.toString().split("\n").filter(Boolean);
      return running.length === 1 && running[0] === String(v) ? true : undefined;
    });
  }, LONG);

  test("a command run over SSH without a terminal dies with its SSH connection", async () => {
    const config = await sshConfigFor(owner);
    const replica = labelled(`beamstalk.app=${APP}`, "beamstalk.process=web")[0]!;
    const marker = "timer.sleep(300_123)";
    const running = () => Bun.spawnSync(["docker", "top", replica, "-o", "pid,args"]).stdout.toString().split("\n").filter((l) => l.includes(marker));
    const client = Bun.spawn(["ssh", "-F", config, "-p", String(daemon.sshPort), "-T", "--", "git@127.0.0.1", JSON.stringify(["rpc", APP, `:${marker}`])], { stdin: "pipe", stdout: "ignore", stderr: "ignore" });
    // Its BEAM up (the release script has exec'd erl), not only the script that starts it.
    await until("the rpc's BEAM running in the replica", 60_000, () => (running().some((l) => l.includes("beam.smp")) ? true : undefined));
    const cut = Date.now();
    client.kill("SIGKILL");
    await until("the rpc gone with its connection", 30_000, () => (running().length === 0 ? true : undefined));
    console.log(`[crash] a non-tty rpc ended ${((Date.now() - cut) / 1000).toFixed(1)} s after its SSH client was killed`);
    expect(daemon.log()).toContain("ssh.ops.hangup");
  }, LONG);

  test("the supervisor's restart count survives a daemon restart", async () => {
    const id = labelled(`beamstalk.app=${APP}`, "beamstalk.process=web")[0]!;
    const ps = async () => (JSON.parse(await owner.ok(["ps", "-a", APP, "--json"])) as { replicas: { state: string; restarts: number }[] }).replicas;
    Bun.spawnSync(["docker", "kill", id]);
    const restarts = await until("the replica revived", 60_000, async () => {
      const [r] = await ps();
      return r?.state === "running" && r.restarts >= 1 ? r.restarts : undefined;
    });
    await crashAndRestart();
    const [after] = await ps();
    expect(after).toMatchObject({ state: "running" });
    expect(after!.restarts).toBe(restarts);
  }, LONG);
});
