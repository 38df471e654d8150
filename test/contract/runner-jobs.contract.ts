import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Secret } from "../../src/lib/secret.ts";
import type { JobOptions, JobSpec, Runner } from "../../src/runner/types.ts";
import type { MakeRunner, RunnerFixtures } from "./runner.contract.ts";
import { makeSlug, testAppFiles } from "./test-slug.ts";

/**
 * What every Runner must do for one-off jobs (`beamstalk run`): the argv arrives
 * intact (no shell), the exit code comes back, output streams while it runs,
 * a timeout or an abort kills it, and nothing is left behind. Called by
 * runnerContract, so each implementation runs it.
 */
const T = 60_000;

export function runnerJobContract(name: string, make: MakeRunner, fixtures: RunnerFixtures): void {
  describe(`Runner contract (jobs): ${name}`, () => {
    const app = `${fixtures.appPrefix}-j`;
    const secretValue = `job-s3cret-${crypto.randomUUID()}`;
    let dir = "";
    let slug = "";
    let runner: Runner;
    let cleanup: () => Promise<void>;

    const spec = (argv: string[], over: Partial<JobSpec> = {}): JobSpec => ({
      app,
      release: 4,
      image: fixtures.image,
      argv,
      slugPath: slug,
      env: { GREETING: "hello there", API_TOKEN: new Secret(secretValue) },
      size: 0.25,
      ...over,
    });

    /** Runs a job and collects what it printed, per stream and in arrival order. */
    async function run(argv: string[], options: Partial<JobOptions> = {}, over: Partial<JobSpec> = {}) {
      const decoder = { stdout: new TextDecoder(), stderr: new TextDecoder() };
      const out = { stdout: "", stderr: "", both: "" };
      const began = performance.now();
      const result = await runner.runJob(spec(argv, over), {
        timeoutMs: 30_000,
        ...options,
        onOutput: (chunk, stream) => {
          const text = decoder[stream].decode(chunk, { stream: true });
          out[stream] += text;
          out.both += text;
          options.onOutput?.(chunk, stream);
        },
      });
      return { ...result, ...out, ms: performance.now() - began };
    }

    /** Engine objects of the app other than its network. */
    const leftJobs = async () => (await fixtures.leftovers(app)).filter((n) => !n.endsWith(`beamstalk-${app}`));

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "beamstalk-jobs-"));
      slug = await makeSlug(dir, "app.tar.gz", testAppFiles());
      ({ runner, cleanup } = await make());
    });

    afterAll(async () => {
      await runner?.removeApp(app).catch(() => {});
      await cleanup?.();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test("the argv arrives intact, without a shell; exit code 0; the boot lines are left out", async () => {
      const odd = ["a b", "$(id)", "c;d", "`id`", "it's", '"q"', "*", "-x", "--exec", "", "ünï"];
      const job = await run(["printf", "%s|", ...odd]);
      expect(job).toMatchObject({ exitCode: 0, timedOut: false, stderr: "" });
      expect(job.stdout).toBe(odd.map((arg) => `${arg}|`).join(""));
      expect(await leftJobs()).toEqual([]);
    }, T);

    test("the exit code comes back; stdout and stderr both stream", async () => {
      const job = await run(["bash", "-c", "echo out; echo err >&2; exit 7"]);
      expect(job).toMatchObject({ exitCode: 7, timedOut: false, stdout: "out\n", stderr: "err\n" });
      const missing = await run(["no-such-command-x"]);
      expect(missing.exitCode).toBe(127);
      expect(missing.stderr).toContain("no-such-command-x: not found");
    }, T);

    test("the app's environment (a Secret too), in /app as the app user; the Secret is in no log line", async () => {
      const job = await run(["bash", "-c", 'echo "$GREETING|$API_TOKEN|$(id -u)|$HOME|$PWD|$PROFILE_D_RAN|$BEAMSTALK_PROCESS"']);
      expect(job.exitCode).toBe(0);
      expect(job.stdout).toBe(`hello there|${secretValue}|1000|/app|/app|yes, in /app|run\n`);
      for (const line of fixtures.logLines()) expect(line).not.toContain(secretValue);
    }, T);

    test("output streams while the job runs; a job is not a replica (list never shows it)", async () => {
      let firstAt = 0;
      let listed: unknown[] = [];
      const job = await run(["bash", "-c", "echo one; sleep 2; echo two"], {
        onOutput: () => {
          if (firstAt) return;
          firstAt = performance.now();
          void runner.list(app).then((replicas) => (listed = replicas));
        },
      });
      expect(job.stdout).toBe("one\ntwo\n");
      expect(performance.now() - firstAt).toBeGreaterThan(1500); // "one" came well before the end
      expect(listed).toEqual([]);
      expect(await runner.list(app)).toEqual([]);
    }, T);

    test("a job past its timeout is killed and reported as timed out; nothing is left", async () => {
      const job = await run(["sleep", "30"], { timeoutMs: 1500 });
      expect(job.timedOut).toBe(true);
      expect(job.exitCode).not.toBe(0);
      expect(job.ms).toBeLessThan(12_000);
      expect(await leftJobs()).toEqual([]);
    }, T);

    test("aborting (the client went away) kills the job; nothing is left", async () => {
      const abort = new AbortController();
      const job = run(["bash", "-c", "echo started; exec sleep 30"], {
        signal: abort.signal,
        onOutput: () => abort.abort(),
      });
      const done = await job;
      expect(done.timedOut).toBe(false);
      expect(done.exitCode).not.toBe(0);
      expect(done.ms).toBeLessThan(12_000);
      expect(await leftJobs()).toEqual([]);
    }, T);

    test("a missing slug rejects before anything runs", async () => {
      await expect(run(["true"], {}, { slugPath: join(dir, "nope.tar.gz") })).rejects.toThrow(/nope\.tar\.gz does not exist/);
      expect(await leftJobs()).toEqual([]);
    }, T);

    test("removeApp removes a job that still runs, with the network", async () => {
      const abort = new AbortController();
      const job = run(["sleep", "30"], { signal: abort.signal }).catch((err: Error) => err);
      for (let i = 0; i < 100 && (await leftJobs()).length === 0; i++) await Bun.sleep(50);
      expect((await leftJobs()).length).toBe(1);
      await runner.removeApp(app);
      await job;
      expect(await fixtures.leftovers(app)).toEqual([]);
      for (const line of fixtures.logLines()) expect(line).not.toContain(secretValue);
    }, T);
  });
}
