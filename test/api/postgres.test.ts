import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ApiDeps, createApi } from "../../src/api/index.ts";
import { pgHarness } from "../postgres/support.ts";

// The pg routes over a real Postgres (real containers), mounted as the daemon will mount them.
const h = pgHarness();
const noEngine = () => Promise.reject(new Error("no engine in API tests"));
const deps = {
  state: h.state,
  logger: h.logger,
  version: "test",
  setupToken: { location: "-", matches: () => false, consume: () => {} },
  removeApp: async () => {},
  routes: { setMaintenance: () => {} },
  deploy: { push: noEngine, redeploy: noEngine, rollback: noEngine, processes: noEngine, scale: noEngine, restart: noEngine },
  postgres: h.postgres,
} as unknown as ApiDeps; // only what the pg routes use
const api = createApi(deps);

const keys: Record<string, string> = {};
let appName = "";

async function call(method: string, path: string, key: string, body?: unknown) {
  const res = await api.request(path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, text };
}

beforeAll(async () => {
  const app = h.makeApp();
  appName = app.name;
  for (const [who, email] of [["owner", "owner@example.com"], ["collab", "c@example.com"], ["viewer", "v@example.com"], ["other", "o@example.com"]] as const) {
    const user = who === "owner" ? h.owner : h.state.users.create({ email, passwordHash: "x", isAdmin: false });
    keys[who] = h.state.apiKeys.issue(user.id).key;
    if (who === "collab" || who === "viewer") h.state.access.grant(app.id, user, who === "collab" ? "collaborator" : "viewer", h.owner.id);
  }
}, 60_000);

afterAll(() => h.cleanup(), 120_000);

describe("pg API", () => {
  test("create, then who sees the credentials", async () => {
    expect((await call("POST", `/api/apps/${appName}/pg`, keys.viewer!, {})).status).toBe(403);
    expect((await call("POST", `/api/apps/${appName}/pg`, keys.owner!, { size: 5 })).status).toBe(400);
    // Choosing the host is an admin's (hosts are theirs); on a one-host server there is none to choose.
    const byCollaborator = await call("POST", `/api/apps/${appName}/pg`, keys.collab!, { node: "host2" });
    expect(byCollaborator.status).toBe(403);
    expect(byCollaborator.text).toContain("only admins choose the host a database runs on");
    const oneHost = await call("POST", `/api/apps/${appName}/pg`, keys.owner!, { node: "host2" });
    expect(oneHost.status).toBe(400);
    expect(oneHost.text).toContain("--node needs the Swarm runner");
    expect((await call("GET", `/api/apps/${appName}/pg`, keys.owner!)).status).toBe(404);
    const created = await call("POST", `/api/apps/${appName}/pg`, keys.owner!, { size: 0.6 });
    expect(created.status).toBe(201);
    const password = new URL(created.body.url).password;
    expect(password).toMatch(/^[0-9a-f]{48}$/);
    expect((await call("POST", `/api/apps/${appName}/pg`, keys.owner!, {})).status).toBe(409);

    const collab = await call("GET", `/api/apps/${appName}/pg`, keys.collab!);
    expect(collab.body.url).toBe(created.body.url);
    const viewer = await call("GET", `/api/apps/${appName}/pg`, keys.viewer!);
    expect(viewer.status).toBe(200);
    expect(viewer.body).toMatchObject({ state: "available", size: 0.6, version: 15, host: `db.${appName}.internal` });
    expect(viewer.body.url).toBeUndefined();
    expect(viewer.text).not.toContain(password);
    const other = await call("GET", `/api/apps/${appName}/pg`, keys.other!);
    expect(other.status).toBe(404);
    expect(other.text).not.toContain(password);
    expect(h.logger.lines.join("\n")).not.toContain(password);
  }, 120_000);

  test("backups: listed to viewers; restore only by those who may write; others get 404", async () => {
    const captured = await call("POST", `/api/apps/${appName}/pg/backups`, keys.collab!);
    expect(captured.status).toBe(201);
    expect(captured.body).toMatchObject({ kind: "manual", status: "succeeded" });
    const list = await call("GET", `/api/apps/${appName}/pg/backups`, keys.viewer!);
    expect(list.body.map((b: { id: number }) => b.id)).toEqual([captured.body.id]);
    expect(list.body[0].sha256).toBe(captured.body.sha256);
    expect((await call("GET", `/api/apps/${appName}/pg/backups`, keys.other!)).status).toBe(404);
    expect((await call("POST", `/api/apps/${appName}/pg/backups`, keys.other!)).status).toBe(404);
    expect((await call("POST", `/api/apps/${appName}/pg/backups/${captured.body.id}/restore`, keys.other!)).status).toBe(404);
    expect((await call("POST", `/api/apps/${appName}/pg/backups/${captured.body.id}/restore`, keys.viewer!)).status).toBe(403);
    expect((await call("POST", `/api/apps/${appName}/pg/backups/999999/restore`, keys.owner!)).status).toBe(404);
    const restored = await call("POST", `/api/apps/${appName}/pg/backups/${captured.body.id}/restore`, keys.collab!);
    expect(restored.status).toBe(200);
  }, 120_000);

  test("scale and destroy: destroy wants the owner and the app's name", async () => {
    const scaled = await call("POST", `/api/apps/${appName}/pg/scale`, keys.collab!, { size: 1.7 });
    expect(scaled.body).toMatchObject({ size: 1.7, state: "available" });
    expect((await call("POST", `/api/apps/${appName}/pg/destroy`, keys.collab!, { confirm: appName })).status).toBe(403);
    expect((await call("POST", `/api/apps/${appName}/pg/destroy`, keys.other!, { confirm: appName })).status).toBe(404);
    expect((await call("POST", `/api/apps/${appName}/pg/destroy`, keys.owner!, { confirm: "nope" })).status).toBe(400);
    const destroyed = await call("POST", `/api/apps/${appName}/pg/destroy`, keys.owner!, { confirm: appName });
    expect(destroyed.status).toBe(200);
    expect(destroyed.body.final_backup).toMatchObject({ kind: "final", status: "succeeded" });
    expect((await call("GET", `/api/apps/${appName}/pg`, keys.owner!)).status).toBe(404);
  }, 120_000);
});
