import { afterEach, describe, expect, test } from "bun:test";
import { testApi } from "../support/api.ts";

let t: ReturnType<typeof testApi>;
afterEach(() => t?.close());

async function setup() {
  t = testApi();
  const admin = await t.admin();
  const owner = await t.user(admin, "owner@example.com");
  const other = await t.user(admin, "other@example.com");
  return { admin, owner, other };
}

describe("apps", () => {
  test("create with a name, with a generated name, list, info", async () => {
    const { owner } = await setup();
    const named = await t.call("POST", "/api/apps", { key: owner, body: { name: "web" } });
    expect(named.status).toBe(201);
    expect(named.body).toMatchObject({ name: "web", owner: "owner@example.com", role: "owner", url: "http://web.apps.test" });
    const generated = await t.call("POST", "/api/apps", { key: owner, body: {} });
    expect(generated.body.name).toMatch(/^[a-z]+-[a-z]+-\d{4}$/);
    const list = await t.call("GET", "/api/apps", { key: owner });
    expect(list.body.map((a: { name: string }) => a.name).sort()).toEqual([generated.body.name, "web"].sort());
    const info = await t.call("GET", "/api/apps/web", { key: owner });
    expect(info.body).toMatchObject({ name: "web", role: "owner", release: null });
  });

  test.each(["-h", "--upload-pack=x", "../x", "a;id", "$(id)", "Web", "a"])("refuses the name %p and creates nothing", async (name) => {
    const { owner } = await setup();
    const res = await t.call("POST", "/api/apps", { key: owner, body: { name } });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/invalid app name/);
    expect(res.body.error.hint).toMatch(/lowercase/);
    expect((await t.call("GET", "/api/apps", { key: owner })).body).toEqual([]);
  });

  test("names are unique across users", async () => {
    const { owner, other } = await setup();
    await t.call("POST", "/api/apps", { key: owner, body: { name: "web" } });
    const taken = await t.call("POST", "/api/apps", { key: other, body: { name: "web" } });
    expect(taken.status).toBe(409);
  });

  test("another user's app answers 404 on every route, exactly as a missing one", async () => {
    const { owner, other } = await setup();
    await t.call("POST", "/api/apps", { key: owner, body: { name: "web" } });
    const routes: [string, string, unknown?][] = [
      ["GET", "/api/apps/web"],
      ["DELETE", "/api/apps/web?confirm=web"],
      ["GET", "/api/apps/web/activity"],
      ["GET", "/api/apps/web/releases"],
      ["GET", "/api/apps/web/config"],
      ["PATCH", "/api/apps/web/config", { set: { A: "1" } }],
      ["POST", "/api/apps/web/config/copy", { from: "web" }],
      ["GET", "/api/apps/web/access"],
      ["POST", "/api/apps/web/access", { email: "other@example.com" }],
      ["DELETE", "/api/apps/web/access/owner@example.com"],
    ];
    for (const [method, path, body] of routes) {
      const theirs = await t.call(method, path, { key: other, body });
      const missing = await t.call(method, path.replaceAll("web", "nope"), { key: other, body });
      expect(theirs.status).toBe(404);
      expect(theirs.body.error.message).toBe(missing.body.error.message.replaceAll("nope", "web"));
    }
    expect((await t.call("GET", "/api/apps", { key: other })).body).toEqual([]);
    expect(t.state.config.get(t.state.apps.byName("web")!)).toEqual({});
  });

  test("admins see and manage every app", async () => {
    const { admin, owner } = await setup();
    await t.call("POST", "/api/apps", { key: owner, body: { name: "web" } });
    expect((await t.call("GET", "/api/apps", { key: admin })).body[0]).toMatchObject({ name: "web", role: "admin" });
    expect((await t.call("PATCH", "/api/apps/web/config", { key: admin, body: { set: { A: "1" } } })).status).toBe(200);
  });

  test("destroy needs --confirm with the app's name, then removes everything of the app", async () => {
    const { owner } = await setup();
    await t.call("POST", "/api/apps", { key: owner, body: { name: "web" } });
    await t.call("PATCH", "/api/apps/web/config", { key: owner, body: { set: { A: "1" } } });
    const noConfirm = await t.call("DELETE", "/api/apps/web", { key: owner });
    expect(noConfirm.status).toBe(400);
    expect(noConfirm.body.error.hint).toBe("run again with --confirm web");
    expect((await t.call("DELETE", "/api/apps/web?confirm=other", { key: owner })).status).toBe(400);
    expect(t.state.apps.exists("web")).toBe(true);
    expect(t.removed).toEqual([]);

    expect((await t.call("DELETE", "/api/apps/web?confirm=web", { key: owner })).status).toBe(204);
    expect(t.removed).toEqual(["web"]);
    expect((await t.call("GET", "/api/apps/web", { key: owner })).status).toBe(404);
    for (const table of ["apps", "config_vars", "releases", "activity", "app_access"]) {
      expect(t.state.db.query(`SELECT count(*) AS n FROM ${table}`).get()).toEqual({ n: 0 });
    }
    expect((await t.call("POST", "/api/apps", { key: owner, body: { name: "web" } })).status).toBe(201);
  });

  test("activity records who did what", async () => {
    const { owner } = await setup();
    await t.call("POST", "/api/apps", { key: owner, body: { name: "web" } });
    await t.call("PATCH", "/api/apps/web/config", { key: owner, body: { set: { SECRET: "hunter2" } } });
    await t.call("POST", "/api/apps/web/access", { key: owner, body: { email: "other@example.com", role: "viewer" } });
    const activity = await t.call("GET", "/api/apps/web/activity", { key: owner });
    expect(activity.body.map((e: { detail: string }) => e.detail)).toEqual([
      "Gave other@example.com viewer access",
      "Set SECRET config var (v1)",
      "Created app web",
    ]);
    expect(activity.body.every((e: { user: string }) => e.user === "owner@example.com")).toBe(true);
    expect(activity.text).not.toContain("hunter2");
  });
});

describe("access", () => {
  test("viewers read, collaborators write, owners and admins manage", async () => {
    const { admin, owner } = await setup();
    const viewer = await t.user(admin, "viewer@example.com");
    const collab = await t.user(admin, "collab@example.com");
    await t.call("POST", "/api/apps", { key: owner, body: { name: "web" } });
    expect((await t.call("POST", "/api/apps/web/access", { key: owner, body: { email: "viewer@example.com", role: "viewer" } })).status).toBe(201);
    expect((await t.call("POST", "/api/apps/web/access", { key: owner, body: { email: "collab@example.com" } })).status).toBe(201);

    const list = await t.call("GET", "/api/apps/web/access", { key: viewer });
    expect(list.body.map((e: { email: string; role: string }) => [e.email, e.role])).toEqual([
      ["owner@example.com", "owner"],
      ["collab@example.com", "collaborator"],
      ["viewer@example.com", "viewer"],
    ]);

    expect((await t.call("GET", "/api/apps/web/config", { key: viewer })).status).toBe(200);
    const viewerWrite = await t.call("PATCH", "/api/apps/web/config", { key: viewer, body: { set: { A: "1" } } });
    expect(viewerWrite.status).toBe(403);
    expect(viewerWrite.body.error.message).toBe("your viewer access to web does not allow this");
    expect((await t.call("PATCH", "/api/apps/web/config", { key: collab, body: { set: { A: "1" } } })).status).toBe(200);
    expect((await t.call("POST", "/api/apps/web/access", { key: collab, body: { email: "other@example.com" } })).status).toBe(403);
    expect((await t.call("DELETE", "/api/apps/web?confirm=web", { key: collab })).status).toBe(403);
    expect(t.state.apps.exists("web")).toBe(true);

    expect((await t.call("DELETE", "/api/apps/web/access/collab@example.com", { key: owner })).status).toBe(204);
    expect((await t.call("GET", "/api/apps/web", { key: collab })).status).toBe(404);
    expect((await t.call("DELETE", "/api/apps/web/access/collab@example.com", { key: owner })).status).toBe(404);
  });

  test("bad input: unknown account, bad role, the owner", async () => {
    const { owner } = await setup();
    await t.call("POST", "/api/apps", { key: owner, body: { name: "web" } });
    const ghost = await t.call("POST", "/api/apps/web/access", { key: owner, body: { email: "ghost@example.com" } });
    expect(ghost.status).toBe(404);
    expect(ghost.body.error.hint).toMatch(/invites:create/);
    expect((await t.call("POST", "/api/apps/web/access", { key: owner, body: { email: "other@example.com", role: "owner" } })).status).toBe(400);
    expect((await t.call("POST", "/api/apps/web/access", { key: owner, body: { email: "owner@example.com" } })).status).toBe(400);
    expect((await t.call("GET", "/api/apps/web/access", { key: owner })).body).toHaveLength(1);
  });
});
