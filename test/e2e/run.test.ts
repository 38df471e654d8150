import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BINARY, CliUser, type RunningDaemon } from "../support/daemon.ts";
import { containersLabelled, daemonWithFixture, type FixtureApp, tearDown } from "../support/fixture-app.ts";
import { dockerOn } from "../support/target.ts";

/**
 * `beamstalk run -- CMD ARGS…` for real: the compiled binary as server and CLI,
 * the hello fixture deployed once by git push, one-off job containers on Docker.
 */
const APP = `run-${Math.random().toString(36).slice(2, 8)}`;
const SECRET = `sk_live_${crypto.randomUUID()}`;
const LONG = 6 * 60_000;
let daemon: RunningDaemon;
let owner: CliUser;
let fixture: FixtureApp;
const git = (args: string[]) => fixture.git(args);

/** The app's job containers (labelled beamstalk.job, never beamstalk.managed). */
function jobContainers(): string[] {
  return containersLabelled(`beamstalk.app=${APP}`, "beamstalk.job=true");
}

async function noJobsWithin(ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  while (jobContainers().length > 0 && Date.now() < deadline) await Bun.sleep(200);
  return jobContainers();
}

beforeAll(async () => {
  ({ daemon, owner, fixture } = await daemonWithFixture(APP));
}, LONG);

afterAll(() => tearDown(owner, daemon, APP), LONG);

describe("beamstalk run", () => {
  test("an app with no deployed release is refused clearly", async () => {
    const res = await owner.run(["run", "-a", APP, "--", "true"]);
    expect(res.code).toBe(5);
    expect(res.stderr).toContain(`error: ${APP} has no deployed release to run a command in`);
  }, LONG);

  test("after a deploy and config:set, a release command sees the app's config", async () => {
    const push = await git(["push", "beamstalk", "main"]);
    expect({ code: push.code, err: push.code === 0 ? "" : push.err }).toEqual({ code: 0, err: "" });
    await owner.ok(["config:set", "-a", APP, "GREETING=hi there", `SECRET_TOKEN=${SECRET}`]);
    const res = await owner.run(["run", "-a", APP, "--", "bin/hello", "eval", 'IO.puts(System.get_env("GREETING"))']);
    expect({ code: res.code, stderr: res.stderr }).toEqual({ code: 0, stderr: "" });
    expect(res.stdout).toBe("hi there\n");
  }, LONG);

  test("the argv arrives intact: quotes, spaces, $(id) and ; are literal arguments", async () => {
    const res = await owner.run(["run", "-a", APP, "--", "printf", "%s|", "a b", "$(id)", "c;d", "--timeout", "-a", ""]);
    expect({ code: res.code, stdout: res.stdout, stderr: res.stderr }).toEqual({ code: 0, stdout: "a b|$(id)|c;d|--timeout|-a||", stderr: "" });
  }, LONG);

  test("the job's exit code is the command's; output streams", async () => {
    const seven = await owner.run(["run", "-a", APP, "--", "bash", "-c", "exit 7"]);
    expect({ code: seven.code, stdout: seven.stdout, stderr: seven.stderr }).toEqual({ code: 7, stdout: "", stderr: "" });
    const both = await owner.run(["run", "-a", APP, "--", "bash", "-c", 'echo "to stdout ${#SECRET_TOKEN}"; echo to-stderr >&2; exit 3']);
    expect(both.code).toBe(3);
    expect(both.stdout.split("\n").sort()).toEqual(["", `to stdout ${SECRET.length}`, "to-stderr"]);
    const missing = await owner.run(["run", "-a", APP, "--", "no-such-command"]);
    expect(missing.code).toBe(127);
  }, LONG);

  test("GIGALIXIR's run [APP] MODULE FUNCTION calls Elixir.MODULE.FUNCTION() through the release", async () => {
    // Hello.Version.marker/0 exists and returns quietly: exit 0, nothing printed.
    for (const args of [["run", APP, "Hello.Version", "marker"], ["run", "-a", APP, "Elixir.Hello.Version", "marker"]]) {
      expect({ args, ...(await owner.run(args)) }).toEqual({ args, code: 0, stdout: "", stderr: "" });
    }
    // A function that is not there: the release's own error, naming what it called.
    const missing = await owner.run(["run", APP, "Hello.Version", "nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain("function Hello.Version.nope/0 is undefined or private");
    const noModule = await owner.run(["run", "-a", APP, "Hello.Nope", "marker"]);
    expect(noModule.code).toBe(1);
    expect(noModule.stdout).toContain("Hello.Nope.marker/0 is undefined (module Hello.Nope is not available)");
    const activity = await owner.ok(["apps:activity", "-a", APP]);
    expect(activity).toContain("Ran Elixir.Hello.Version.marker/0 on v");
    // Bad names never reach the server; `run -- Cmd arg` stays a command.
    const bad = await owner.run(["run", APP, "Hello.Version", "marker;System.halt(3)"]);
    expect(bad).toEqual({ code: 2, stdout: "", stderr: 'error: not an Elixir function name: "marker;System.halt(3)"\nhint: beamstalk run MODULE FUNCTION calls a function of no arguments; a command goes after --\n' });
    const command = await owner.run(["run", "-a", APP, "--", "Hello.Version", "marker"]);
    expect(command.code).toBe(127);
  }, LONG);

  test("--timeout kills the job, says so, exits 124, and removes the container", async () => {
    const began = Date.now();
    const res = await owner.run(["run", "-a", APP, "--timeout", "2", "--", "sleep", "30"]);
    expect(res.code).toBe(124);
    expect(res.stderr).toContain("error: killed after 2 s");
    expect(Date.now() - began).toBeLessThan(20_000);
    expect(await noJobsWithin(5_000)).toEqual([]);
  }, LONG);

  test("a quiet job outlives the HTTP client's idle timeout (Bun's fetch: 300 s by default, here 1 s)", async () => {
    // Measured: with BUN_CONFIG_HTTP_IDLE_TIMEOUT=1 a plain fetch fails on a response quiet for ~8 s.
    const res = await owner.run(["run", "-a", APP, "--", "bash", "-c", "sleep 20; echo done"], { env: { BUN_CONFIG_HTTP_IDLE_TIMEOUT: "1" } });
    expect({ code: res.code, stdout: res.stdout, stderr: res.stderr }).toEqual({ code: 0, stdout: "done\n", stderr: "" });
  }, LONG);

  test("a CLI that goes away takes its job with it", async () => {
    const proc = Bun.spawn([BINARY, "run", "-a", APP, "--", "bash", "-c", "echo started; exec sleep 120"], {
      cwd: owner.home,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: owner.home, BEAMSTALK_URL: daemon.url },
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      const reader = proc.stdout.getReader();
      let seen = "";
      while (!seen.endsWith("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += new TextDecoder().decode(value);
      }
      expect(seen).toBe("started\n"); // the line, newline included, while the job still runs
      expect(jobContainers()).toHaveLength(1);
    } finally {
      proc.kill("SIGKILL");
      await proc.exited;
    }
    expect(await noJobsWithin(20_000)).toEqual([]);
  }, LONG);

  test("a job is no replica (not labelled as one, not routed): the app keeps serving", async () => {
    const job = owner.run(["run", "-a", APP, "--", "sleep", "5"]);
    for (let i = 0; i < 100 && jobContainers().length === 0; i++) await Bun.sleep(100);
    expect(jobContainers()).toHaveLength(1);
    const labels = JSON.parse(dockerOn(jobContainers()[0]!, "inspect", "-f", "{{json .Config.Labels}}", jobContainers()[0]!).stdout);
    expect(labels).toMatchObject({ "beamstalk.job": "true", "beamstalk.app": APP, "beamstalk.release": "2" });
    expect(labels["beamstalk.managed"]).toBeUndefined();
    const res = await fetch(daemon.url + "/", { headers: { host: `${APP}.apps.test` } });
    expect(await res.text()).toBe("hello v1\n");
    expect((await job).code).toBe(0);
  }, LONG);

  test("activity names the command, never its arguments; no secret or argument reaches the daemon log", async () => {
    const activity = JSON.parse(await owner.ok(["apps:activity", "-a", APP, "--json"])) as { action: string; detail: string }[];
    const runs = activity.filter((e) => e.action === "run").map((e) => e.detail);
    expect(runs).toContain("Ran printf on v2");
    expect(runs).toContain("Ran bin/hello on v2");
    expect(JSON.stringify(activity)).not.toContain("$(id)");
    expect(daemon.log()).toContain("job.run");
    for (const leak of [SECRET, "$(id)", "c;d", "System.get_env"]) expect(daemon.log()).not.toContain(leak);
  }, LONG);

  test("a viewer is refused, a stranger is told the app does not exist", async () => {
    const viewer = new CliUser(daemon.url);
    const stranger = new CliUser(daemon.url);
    try {
      for (const [user, email] of [[viewer, "viewer@example.com"], [stranger, "stranger@example.com"]] as const) {
        const invite = JSON.parse(await owner.ok(["invites:create", email, "--json"]));
        await user.ok(["signup", "--email", email, "--invite", invite.code], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
      }
      await owner.ok(["access:add", "viewer@example.com", "--role", "viewer", "-a", APP]);
      const refused = await viewer.run(["run", "-a", APP, "--", "true"]);
      expect(refused.code).toBe(4);
      expect(refused.stderr).toContain(`error: your viewer access to ${APP} does not allow this`);
      const hidden = await stranger.run(["run", "-a", APP, "--", "true"]);
      expect(hidden.code).toBe(4);
      expect(hidden.stderr).toContain(`error: app ${APP} not found`);
      expect(jobContainers()).toEqual([]);
    } finally {
      viewer.cleanup();
      stranger.cleanup();
    }
  }, LONG);

  test("usage errors: no command, bad --timeout", async () => {
    const none = await owner.run(["run", "-a", APP]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("error: no command given");
    const bad = await owner.run(["run", "-a", APP, "--timeout", "90000", "--", "true"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--timeout must be whole seconds from 1 to 86400");
  }, LONG);
});
