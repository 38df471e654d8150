import { expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { emptyManifest } from "../lib/app-manifest.ts";
import { createMemoryLogger } from "../lib/logger.ts";
import type { JobOptions, JobResult, JobSpec } from "../runner/types.ts";
import { openDatabase } from "../state/db.ts";
import { createState } from "../state/index.ts";
import { CronScheduler } from "./cron.ts";

const dir = mkdtempSync(join(tmpdir(), "beamstalk-cron-unit-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

/** A scheduler over a real state database, with the clock and the jobs in the test's hands. */
function setup(name: string) {
  const state = createState(openDatabase(join(dir, `${name}.db`)).db, randomBytes(32));
  const owner = state.users.create({ email: "o@example.com", passwordHash: "x", isAdmin: false });
  const app = state.apps.create("hello", owner);
  const cron = [
    { id: "0000000a", schedule: "* * * * *", command: "echo every-minute" },
    { id: "0000000b", schedule: "*/5 * * * *", command: "echo five" },
  ];
  state.releases.append({ appId: app.id, appName: app.name, summary: "x", config: {}, slug: "s", gitSha: null, status: "succeeded", createdBy: null, manifest: { ...emptyManifest(), cron } });
  const started: { argv: string[]; finish: (r: JobResult) => void; options: JobOptions }[] = [];
  const lines: string[] = [];
  let now = new Date("2026-12-03T14:00:30Z");
  const scheduler = new CronScheduler({
    state,
    logger: createMemoryLogger(),
    now: () => now,
    logs: { job: (_app, job, line) => lines.push(`${job}: ${line}`), platform: (_app, line) => lines.push(`platform: ${line}`) },
    jobs: {
      prepare: async (_app, request) => ({ app: "hello", release: 1, image: "i", argv: request.argv, slugPath: "/s", env: {}, size: request.size }) as JobSpec,
      run: (spec, options) =>
        new Promise<JobResult>((finish) => {
          started.push({ argv: spec.argv, finish, options });
          options.onOutput(new TextEncoder().encode(`${spec.argv[2]}\n`), "stdout");
        }),
    },
  });
  return { state, app, owner, scheduler, started, lines, at: (iso: string) => (now = new Date(iso)) };
}

const settle = () => Bun.sleep(10);

test("each entry runs when its schedule comes due, once a minute, as `bash -c COMMAND` of the current release", async () => {
  const { scheduler, started, at, state, app, lines } = setup("due");
  scheduler.tick(at("2026-12-03T14:01:00.050Z"));
  scheduler.tick(at("2026-12-03T14:01:30Z")); // the same minute: nothing new
  await settle();
  expect(started.map((s) => s.argv)).toEqual([["/bin/bash", "-c", "echo every-minute"]]);
  started[0]!.finish({ exitCode: 0, timedOut: false });
  await settle();
  scheduler.tick(at("2026-12-03T14:05:00.050Z"));
  await settle();
  expect(started.map((s) => s.argv[2])).toEqual(["echo every-minute", "echo every-minute", "echo five"]);
  expect(lines).toContain("cron.0000000a: echo every-minute");
  const latest = state.cronRuns.latest(app.id);
  expect(latest.get("0000000a")!.run.status).toBe("running");
  const listed = scheduler.entries(app);
  expect(listed.map((e) => [e.id, e.running, e.nextRun])).toEqual([
    ["0000000a", true, "2026-12-03T14:06:00.000Z"],
    ["0000000b", true, "2026-12-03T14:10:00.000Z"],
  ]);
});

test("a run still going when the entry is due again is skipped, not started twice; a failure is recorded with its exit code", async () => {
  const { scheduler, started, at, state, app, owner } = setup("overlap");
  scheduler.tick(at("2026-12-03T14:01:00Z"));
  await settle();
  scheduler.tick(at("2026-12-03T14:02:00Z"));
  await settle();
  expect(started).toHaveLength(1);
  expect(scheduler.entries(app)[0]).toMatchObject({ running: true, skippedSince: 1 });
  await expect(scheduler.runNow(app, "0000000a", owner)).rejects.toThrow("cron entry 0000000a is running now");
  started[0]!.finish({ exitCode: 3, timedOut: false });
  await settle();
  expect(scheduler.entries(app)[0]).toMatchObject({ running: false, skippedSince: 1, lastRun: { status: "failed", exitCode: 3, trigger: "schedule" } });
  expect(state.activity.list(app.id)[0]).toMatchObject({ action: "cron.failed", detail: "Cron 0000000a (* * * * *) failed (exit 3)" });
  expect(state.cronRuns.list(app.id, "0000000a").map((r) => r.status)).toEqual(["skipped", "failed"]); // newest first
  const manual = await scheduler.runNow(app, "0000000a", owner);
  expect(manual).toMatchObject({ status: "running", trigger: "manual" });
  // A second failure in a row stays out of the activity; the manual run is in it.
  started[1]!.finish({ exitCode: 3, timedOut: false });
  await settle();
  expect(state.activity.list(app.id).map((a) => a.action)).toEqual(["cron.run", "cron.failed", "app.create"]);
  await expect(scheduler.runNow(app, "nope0000", owner)).rejects.toThrow("hello has no cron entry nope0000");
});

test("a run the daemon stopped during is failed at the next start; stop() kills what runs", async () => {
  const { scheduler, started, at, state, app } = setup("restart");
  scheduler.tick(at("2026-12-03T14:01:00Z"));
  await settle();
  const stopping = scheduler.stop();
  expect(started[0]!.options.signal?.aborted).toBe(true);
  started[0]!.finish({ exitCode: 137, timedOut: false });
  await stopping;
  expect(state.cronRuns.latest(app.id).get("0000000a")!.run).toMatchObject({ status: "failed", exitCode: 137, detail: "stopped: the daemon stopped during the run" });
  // A row left running by a daemon that died is failed when the next one starts.
  state.cronRuns.start(app.id, "0000000b", 1, "schedule");
  const next = setup("restart-2");
  expect(next.state.cronRuns.interrupted("x")).toBe(0);
  expect(state.cronRuns.interrupted("the daemon stopped during the run")).toBe(1);
  expect(state.cronRuns.latest(app.id).get("0000000b")!.run).toMatchObject({ status: "failed", detail: "the daemon stopped during the run" });
});
