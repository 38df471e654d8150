import { afterEach, expect, test } from "bun:test";
import { emptyManifest } from "../../src/lib/app-manifest.ts";
import type { JobResult, JobSpec } from "../../src/runner/types.ts";
import { testApi } from "../support/api.ts";

let t: ReturnType<typeof testApi>;
afterEach(() => t?.close());

const ENTRY = { id: "1a2b3c4d", schedule: "*/5 * * * *", command: "bin/web eval 'Web.tick()'" };

/** An app whose v1 serves with one cron entry; jobs go to `jobs` and end when the test says. */
async function appWithCron() {
  const jobs: { spec: JobSpec; end: (r: JobResult) => void }[] = [];
  t = testApi({ runJob: (spec) => new Promise((end) => jobs.push({ spec, end })) });
  const key = await t.admin();
  await t.call("POST", "/api/apps", { key, body: { name: "web" } });
  const app = t.state.apps.byName("web")!;
  t.state.releases.append({ appId: app.id, appName: "web", summary: "Deploy", config: {}, slug: "a".repeat(64), processTypes: { web: "bin/web start" }, gitSha: null, status: "succeeded", createdBy: null, manifest: { ...emptyManifest(), cron: [ENTRY] } });
  return { key, jobs };
}

test("cron lists the entries with their next run; cron:run starts one as `bash -c COMMAND` of the current release", async () => {
  const { key, jobs } = await appWithCron();
  const list = await t.call("GET", "/api/apps/web/cron", { key });
  expect(list.status).toBe(200);
  expect(list.body).toEqual([{ ...ENTRY, release: 1, running: false, last_run: null, skipped_since_last_run: 0, next_run: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d[05]:00\.000Z$/) }]);
  const run = await t.call("POST", `/api/apps/web/cron/${ENTRY.id}/run`, { key });
  expect(run.status).toBe(202);
  expect(run.body).toMatchObject({ entry: ENTRY.id, release: 1, trigger: "manual", status: "running", exit_code: null });
  await Bun.sleep(20);
  expect(jobs.map((j) => [j.spec.argv, j.spec.release])).toEqual([[["/bin/bash", "-c", ENTRY.command], 1]]);
  const again = await t.call("POST", `/api/apps/web/cron/${ENTRY.id}/run`, { key });
  expect({ status: again.status, message: again.body.error.message }).toEqual({ status: 409, message: `cron entry ${ENTRY.id} is running now` });
  jobs[0]!.end({ exitCode: 2, timedOut: false });
  await Bun.sleep(20);
  const after = await t.call("GET", "/api/apps/web/cron", { key });
  expect(after.body[0]).toMatchObject({ running: false, last_run: { status: "failed", exit_code: 2, trigger: "manual" } });
  expect(t.state.activity.list(t.state.apps.byName("web")!.id).map((a) => a.detail)).toContain(`Cron ${ENTRY.id} (*/5 * * * *) failed (exit 2)`);
});

test("viewers list, only owners and collaborators run; another user's app is not found; ids are checked", async () => {
  const { key, jobs } = await appWithCron();
  const viewer = await t.user(key, "viewer@example.com");
  const stranger = await t.user(key, "stranger@example.com");
  await t.call("POST", "/api/apps/web/access", { key, body: { email: "viewer@example.com", role: "viewer" } });
  expect((await t.call("GET", "/api/apps/web/cron", { key: viewer })).status).toBe(200);
  expect((await t.call("POST", `/api/apps/web/cron/${ENTRY.id}/run`, { key: viewer })).status).toBe(403);
  expect((await t.call("GET", "/api/apps/web/cron", { key: stranger })).status).toBe(404);
  expect((await t.call("POST", `/api/apps/web/cron/${ENTRY.id}/run`, { key: stranger })).status).toBe(404);
  expect((await t.call("GET", "/api/apps/web/cron")).status).toBe(401);
  expect((await t.call("POST", "/api/apps/web/cron/..%2Fx/run", { key })).status).toBe(400);
  const unknown = await t.call("POST", "/api/apps/web/cron/ffffffff/run", { key });
  expect({ status: unknown.status, message: unknown.body.error.message }).toEqual({ status: 404, message: "web has no cron entry ffffffff" });
  expect(jobs).toEqual([]);
});
