import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { createApi, type Bindings } from "../../src/api/index.ts";
import type { NodeActions } from "../../src/api/nodes.ts";
import type { AuthThrottle } from "../../src/api/throttle.ts";
import { CronScheduler } from "../../src/deploy/cron.ts";
import { Jobs } from "../../src/deploy/jobs.ts";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import { Logs } from "../../src/logs/index.ts";
import { openDatabase } from "../../src/state/db.ts";
import { createState, type State } from "../../src/state/index.ts";
import type { Clock } from "../../src/state/clock.ts";
import type { Runner } from "../../src/runner/types.ts";

export const SETUP_TOKEN = "bst_test-setup-token";

/** An API over a real state.db in a temporary directory, called without sockets. */
export function testApi(options: { clock?: Clock; runJob?: Runner["runJob"]; nodes?: NodeActions; throttle?: AuthThrottle } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "beamstalk-api-"));
  const { db } = openDatabase(join(dir, "state.db"));
  const state: State = createState(db, randomBytes(32), options.clock);
  const logger = createMemoryLogger();
  const removed: string[] = [];
  const deployCalls: string[] = [];
  /** What the API told the router, e.g. "maintenance web on". */
  const routerCalls: string[] = [];
  /** API tests run no engine: the deploy pipeline has its own tests, with real Docker. */
  const noEngine = (what: string) => {
    deployCalls.push(what);
    return Promise.reject(new Error("no engine in API tests"));
  };
  let tokenUsed = false;
  /** Real logs on disk under dir/logs, no collector; drains start and retry fast. */
  const logs = new Logs({ dir: join(dir, "logs"), records: state.drains, logger, sender: { backoffMs: { min: 50, max: 500 }, timeoutMs: 2000 } });
  logs.drains.start();
  const jobs = new Jobs({ state, runner: { slugDelivery: "mount", runJob: options.runJob ?? (() => noEngine("run job")) }, stackReady: async () => ({ runImage: "beamstalk/run:test" }), slugsDir: join(dir, "slugs"), logger, baseDomain: "apps.test" });
  const api = createApi({
    state,
    logger,
    version: "test",
    baseDomain: "apps.test",
    setupToken: {
      location: join(dir, "setup-token"),
      matches: (t) => !tokenUsed && t === SETUP_TOKEN,
      consume: () => void (tokenUsed = true),
    },
    removeApp: async (app) => void removed.push(app.name),
    ...(options.nodes ? { nodes: options.nodes } : {}),
    ...(options.throttle ? { throttle: options.throttle } : {}),
    slugsDir: join(dir, "slugs"),
    /** Real job specs (src/deploy/jobs.ts) over the test's own runJob, if it gives one. */
    jobs,
    /** The real scheduler over the same jobs, never started: runs begin only by cron:run. */
    cron: new CronScheduler({ state, jobs, logs, logger }),
    logs,
    routes: { setMaintenance: (app, on) => void routerCalls.push(`maintenance ${app} ${on ? "on" : "off"}`) },
    deploy: {
      push: (req) => noEngine(`push ${req.app}`),
      redeploy: (app, release) => noEngine(`redeploy ${app.name} v${release.version}`),
      rollback: (app, _user, version) => noEngine(`rollback ${app.name} ${version ?? "previous"}`),
      processes: (app) => noEngine(`ps ${app.name}`),
      scale: (app, _user, changes) => noEngine(`scale ${app.name} ${JSON.stringify(changes)}`),
      restart: (app) => noEngine(`restart ${app.name}`),
      kill: (app, _user, replica) => noEngine(`kill ${app.name} ${replica}`),
    },
  });

  async function call(
    method: string,
    path: string,
    opts: { key?: string; body?: unknown; raw?: string; env?: Bindings; headers?: Record<string, string> } = {},
  ) {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.key) headers.authorization = `Bearer ${opts.key}`;
    let body: string | undefined;
    if (opts.raw !== undefined) body = opts.raw;
    else if (opts.body !== undefined) body = JSON.stringify(opts.body);
    if (body !== undefined) headers["content-type"] ??= "application/json";
    const res = await api.request(path, { method, headers, body }, opts.env);
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, text };
  }

  /** Signs up the admin (setup token) and returns their API key. */
  async function admin(email = "admin@example.com") {
    const res = await call("POST", "/api/signup", { body: { email, password: "correct horse", setup_token: SETUP_TOKEN } });
    if (res.status !== 201) throw new Error(`admin signup failed: ${res.text}`);
    return res.body.api_key as string;
  }

  /** An invited user; returns their API key. */
  async function user(adminKey: string, email: string) {
    const inv = await call("POST", "/api/invites", { key: adminKey, body: { email } });
    const res = await call("POST", "/api/signup", { body: { email, password: "battery staple", invite: inv.body.code } });
    if (res.status !== 201) throw new Error(`signup failed: ${res.text}`);
    return res.body.api_key as string;
  }

  return {
    api,
    state,
    logger,
    removed,
    deployCalls,
    routerCalls,
    logs,
    dir,
    call,
    admin,
    user,
    close() {
      void logs.stop();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
