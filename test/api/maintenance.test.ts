import { afterEach, describe, expect, test } from "bun:test";
import { testApi } from "../support/api.ts";

let t: ReturnType<typeof testApi>;
afterEach(() => t?.close());

/** An app "web" owned by owner, shared with a collaborator and a viewer. */
async function setup() {
  t = testApi();
  const admin = await t.admin();
  const owner = await t.user(admin, "owner@example.com");
  const collab = await t.user(admin, "collab@example.com");
  const viewer = await t.user(admin, "viewer@example.com");
  const other = await t.user(admin, "other@example.com");
  await t.call("POST", "/api/apps", { key: owner, body: { name: "web" } });
  await t.call("POST", "/api/apps/web/access", { key: owner, body: { email: "collab@example.com" } });
  await t.call("POST", "/api/apps/web/access", { key: owner, body: { email: "viewer@example.com", role: "viewer" } });
  return { admin, owner, collab, viewer, other };
}

const put = (key: string, enabled: unknown) => t.call("PUT", "/api/apps/web/maintenance", { key, body: { enabled } });
const get = (key: string) => t.call("GET", "/api/apps/web/maintenance", { key });

describe("maintenance mode", () => {
  test("on and off: stored, told to the router, recorded in the activity", async () => {
    const { owner } = await setup();
    expect((await get(owner)).body).toEqual({ app: "web", enabled: false });
    const on = await put(owner, true);
    expect(on.status).toBe(200);
    expect(on.body).toEqual({ app: "web", enabled: true });
    expect((await get(owner)).body).toEqual({ app: "web", enabled: true });
    expect(t.state.maintenance.appsOn()).toEqual(["web"]);
    expect(t.routerCalls).toEqual(["maintenance web on"]);

    expect((await put(owner, false)).body).toEqual({ app: "web", enabled: false });
    expect(t.routerCalls).toEqual(["maintenance web on", "maintenance web off"]);
    expect(t.state.maintenance.appsOn()).toEqual([]);

    const activity = await t.call("GET", "/api/apps/web/activity", { key: owner });
    expect(activity.body.slice(0, 2).map((e: { action: string; detail: string; user: string }) => [e.action, e.detail, e.user])).toEqual([
      ["maintenance.off", "Maintenance off", "owner@example.com"],
      ["maintenance.on", "Maintenance on", "owner@example.com"],
    ]);
  });

  test("turning it on twice records it once, and still tells the router", async () => {
    const { owner } = await setup();
    await put(owner, true);
    await put(owner, true);
    const activity = (await t.call("GET", "/api/apps/web/activity", { key: owner })).body as { action: string }[];
    expect(activity.filter((e) => e.action === "maintenance.on")).toHaveLength(1);
    expect(t.routerCalls).toEqual(["maintenance web on", "maintenance web on"]);
  });

  test("collaborators and admins may switch it; a viewer may only look (403)", async () => {
    const { admin, collab, viewer } = await setup();
    expect((await put(collab, true)).status).toBe(200);
    expect((await put(admin, false)).status).toBe(200);
    const refused = await put(viewer, true);
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toBe("your viewer access to web does not allow this");
    expect((await get(viewer)).body).toEqual({ app: "web", enabled: false });
    expect(t.routerCalls).toEqual(["maintenance web on", "maintenance web off"]);
  });

  test("another user's app answers 404, exactly as a missing one", async () => {
    const { other } = await setup();
    for (const res of [await get(other), await put(other, true)]) {
      expect(res.status).toBe(404);
      expect(res.body.error.message).toBe("app web not found");
    }
    expect((await t.call("GET", "/api/apps/nope/maintenance", { key: other })).body.error.message).toBe("app nope not found");
    expect(t.routerCalls).toEqual([]);
  });

  test("the body must say enabled: true or false; a key is needed", async () => {
    const { owner } = await setup();
    for (const enabled of ["yes", 1, null, undefined]) expect((await put(owner, enabled)).status).toBe(400);
    expect((await t.call("PUT", "/api/apps/web/maintenance", { body: { enabled: true } })).status).toBe(401);
    expect(t.routerCalls).toEqual([]);
  });
});
