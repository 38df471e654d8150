import { afterEach, describe, expect, test } from "bun:test";
import { testApi } from "../support/api.ts";

let t: ReturnType<typeof testApi>;
afterEach(() => t?.close());

/** An app whose v1 ran successfully, as the deploy pipeline would have left it. */
async function deployedApp() {
  t = testApi();
  const key = await t.admin();
  await t.call("POST", "/api/apps", { key, body: { name: "web" } });
  const app = t.state.apps.byName("web")!;
  t.state.releases.append({
    appId: app.id,
    appName: "web",
    summary: "Deploy abc1234",
    config: {},
    slug: "a".repeat(64),
    processTypes: { web: "bin/web start" },
    gitSha: "b".repeat(40),
    status: "succeeded",
    createdBy: null,
  });
  return key;
}

describe("config changes of a running app", () => {
  test("without a build nothing is deployed", async () => {
    t = testApi();
    const key = await t.admin();
    await t.call("POST", "/api/apps", { key, body: { name: "web" } });
    expect((await t.call("PATCH", "/api/apps/web/config", { key, body: { set: { A: "1" } } })).body.status).toBe("recorded");
    expect(t.deployCalls).toEqual([]);
  });

  test("a change is rolled out as the new release; --no-restart only records it", async () => {
    const key = await deployedApp();
    const noRestart = await t.call("PATCH", "/api/apps/web/config", { key, body: { set: { A: "1" }, restart: false } });
    expect(noRestart.body).toMatchObject({ version: 2, status: "recorded" });
    expect(t.deployCalls).toEqual([]);

    const res = await t.call("PATCH", "/api/apps/web/config", { key, body: { set: { B: "2" } } });
    expect(t.deployCalls).toEqual(["redeploy web v3"]);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("deploy_failed");
    expect(res.body.error.message).toBe("config saved as v3, but it did not start: no engine in API tests");
    expect((await t.call("GET", "/api/apps/web/config", { key })).body).toEqual({ A: "1", B: "2" });
    const app = t.state.apps.byName("web")!;
    expect(t.state.releases.get(app.id, 3)).toMatchObject({ slug: "a".repeat(64), processTypes: { web: "bin/web start" } });
  });
});

describe("rollback", () => {
  test("validates the version and needs write access", async () => {
    const key = await deployedApp();
    for (const version of ["3", 0, -1, 1.5]) {
      const res = await t.call("POST", "/api/apps/web/releases/rollback", { key, body: { version } });
      expect(res.status).toBe(400);
    }
    const viewer = await t.user(key, "viewer@example.com");
    await t.call("POST", "/api/apps/web/access", { key, body: { email: "viewer@example.com", role: "viewer" } });
    expect((await t.call("POST", "/api/apps/web/releases/rollback", { key: viewer, body: {} })).status).toBe(403);
    expect(t.deployCalls).toEqual([]);
    const res = await t.call("POST", "/api/apps/web/releases/rollback", { key, body: { version: 1 } });
    expect(t.deployCalls).toEqual(["rollback web 1"]);
    expect(res.body.error).toMatchObject({ code: "deploy_failed", message: "no engine in API tests" });
  });
});

describe("the push endpoint for the git hook", () => {
  test("exists only on the local socket", async () => {
    t = testApi();
    const body = { app: "web", repoPath: "/x", refs: [] };
    expect((await t.call("POST", "/internal/push", { body })).status).toBe(404);
    expect((await t.call("POST", "/internal/push", { body, env: { transport: "tcp" } })).status).toBe(404);
    const local = await t.api.request("/internal/push", { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } }, { transport: "unix" });
    expect(local.status).toBe(200);
    expect(await local.text()).toBe("!     internal error in the deploy pipeline; the server log has details\nbeamstalk:exit=1\n");
    const bad = await t.api.request("/internal/push", { method: "POST", body: JSON.stringify({ ...body, app: "../x" }), headers: { "content-type": "application/json" } }, { transport: "unix" });
    expect(bad.status).toBe(400);
    const a = "a".repeat(40);
    for (const refs of [[{ old: a, new: a, ref: "refs/heads/../../x" }], [{ old: a, new: "HEAD", ref: "refs/heads/main" }], [null]]) {
      const res = await t.api.request("/internal/push", { method: "POST", body: JSON.stringify({ ...body, refs }), headers: { "content-type": "application/json" } }, { transport: "unix" });
      expect(res.status).toBe(400);
    }
  });
});

describe("processes: ps, scale, restart, kill", () => {
  test("roles and input are checked before the engine is asked", async () => {
    const key = await deployedApp();
    const viewer = await t.user(key, "viewer@example.com");
    const stranger = await t.user(key, "stranger@example.com");
    await t.call("POST", "/api/apps/web/access", { key, body: { email: "viewer@example.com", role: "viewer" } });
    expect((await t.call("POST", "/api/apps/web/ps/scale", { key: viewer, body: { replicas: 2 } })).status).toBe(403);
    expect((await t.call("POST", "/api/apps/web/ps/restart", { key: viewer })).status).toBe(403);
    expect((await t.call("POST", "/api/apps/web/ps/kill", { key: viewer, body: { replica: "web.1" } })).status).toBe(403);
    expect((await t.call("POST", "/api/apps/web/ps/kill", { key: stranger, body: { replica: "web.1" } })).status).toBe(404);
    for (const body of [{}, { replica: 1 }, { replica: "web" }, { replica: "web.0" }, { replica: "../x.1" }, { replica: "web.1;id" }]) {
      expect((await t.call("POST", "/api/apps/web/ps/kill", { key, body })).status).toBe(400);
    }
    expect((await t.call("GET", "/api/apps/web/ps", { key: stranger })).status).toBe(404);
    for (const body of [{}, { replicas: "2" }, { size: "big" }, { process: "../x", replicas: 1 }]) {
      expect((await t.call("POST", "/api/apps/web/ps/scale", { key, body })).status).toBe(400);
    }
    expect(t.deployCalls).toEqual([]);
    const res = await t.call("POST", "/api/apps/web/ps/scale", { key, body: { replicas: 3, size: 2 } });
    expect(t.deployCalls).toEqual(['scale web {"web":{"count":3,"size":2}}']);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("deploy_failed");
    expect((await t.call("POST", "/api/apps/web/ps/kill", { key, body: { replica: "web.2" } })).status).toBe(422);
    expect(t.deployCalls.at(-1)).toBe("kill web web.2");
  });
});

test("a push request's git env keeps only git's quarantine variables", async () => {
  const { parsePush } = await import("../../src/api/internal.ts");
  const push = parsePush({
    app: "web",
    repoPath: "/x",
    refs: [],
    gitEnv: { GIT_OBJECT_DIRECTORY: "/q/objects", GIT_QUARANTINE_PATH: "/q", GIT_CONFIG_PARAMETERS: "'core.fsmonitor=touch /tmp/x'", GIT_SSH_COMMAND: "touch /tmp/x", LD_PRELOAD: "/tmp/x.so", GIT_ALTERNATE_OBJECT_DIRECTORIES: 7 },
  });
  expect(push.gitEnv).toEqual({ GIT_OBJECT_DIRECTORY: "/q/objects", GIT_QUARANTINE_PATH: "/q" });
});
