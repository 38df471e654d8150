import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { testApi } from "../support/api.ts";

/** GET /internal/slugs/:app/:release over a real state.db and slug files on disk. */
let t: ReturnType<typeof testApi>;
afterEach(() => t?.close());

const SLUG = "ab12cd";
const BYTES = Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.alloc(200_000, 7)]);

/** App "web" with v1 (a slug on disk) and v2 (config only), and another app "api" with v1. */
async function setup() {
  t = testApi();
  const admin = await t.admin();
  for (const name of ["web", "api"]) expect((await t.call("POST", "/api/apps", { key: admin, body: { name } })).status).toBe(201);
  for (const name of ["web", "api"]) {
    const app = t.state.apps.byName(name)!;
    t.state.releases.append({ appId: app.id, appName: name, summary: "Deploy", config: {}, slug: SLUG, processTypes: { web: "x" }, gitSha: "abc1234", status: "succeeded", createdBy: null });
    mkdirSync(join(t.dir, "slugs", name), { recursive: true });
    writeFileSync(join(t.dir, "slugs", name, `${SLUG}.tar.gz`), name === "web" ? BYTES : "api slug");
  }
  const web = t.state.apps.byName("web")!;
  t.state.releases.append({ appId: web.id, appName: "web", summary: "Config", config: { A: "1" }, slug: null, processTypes: {}, gitSha: null, status: "recorded", createdBy: null });
  return { web, api: t.state.apps.byName("api")! };
}

const fetchSlug = (path: string, token?: string, transport: "tcp" | "unix" = "tcp") =>
  t.api.request(path, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } }, { transport });

describe("GET /internal/slugs/:app/:release", () => {
  test("streams the release's slug to the holder of its token, with Content-Length, over TCP", async () => {
    const { web } = await setup();
    const token = t.state.slugTokens.tokenFor(web, 1).reveal();
    const res = await fetchSlug("/internal/slugs/web/1", token);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/gzip");
    expect(res.headers.get("content-length")).toBe(String(BYTES.length));
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(Buffer.from(await res.arrayBuffer()).equals(BYTES)).toBe(true);
    expect(t.logger.lines.some((l) => l.includes("slug.served app=web release=1 bytes=200002"))).toBe(true);
    expect(t.logger.lines.join("\n")).not.toContain(token);
  });

  test("every refusal is the same 404: no token, a wrong one, another release's or app's, unknown app or release, no slug", async () => {
    const { web, api } = await setup();
    const good = t.state.slugTokens.tokenFor(web, 1).reveal();
    const refusals = [
      await fetchSlug("/internal/slugs/web/1"),
      await fetchSlug("/internal/slugs/web/1", ""),
      await t.api.request("/internal/slugs/web/1", { headers: { authorization: `Basic ${good}` } }, { transport: "tcp" }),
      await fetchSlug("/internal/slugs/web/1", `${good.slice(0, -1)}${good.endsWith("A") ? "B" : "A"}`),
      await fetchSlug("/internal/slugs/web/1", t.state.slugTokens.tokenFor(web, 3).reveal()),
      await fetchSlug("/internal/slugs/web/1", t.state.slugTokens.tokenFor(api, 1).reveal()),
      // A valid token for a release that has no slug (config only), one that does not exist, an app that does not exist.
      await fetchSlug("/internal/slugs/web/2", t.state.slugTokens.tokenFor(web, 2).reveal()),
      await fetchSlug("/internal/slugs/web/9", t.state.slugTokens.tokenFor(web, 9).reveal()),
      await fetchSlug("/internal/slugs/nope/1", t.state.slugTokens.tokenFor({ id: 99, name: "nope" }, 1).reveal()),
      await fetchSlug("/internal/slugs/nope/1", good),
      await fetchSlug("/internal/slugs/web/01", good),
      await fetchSlug("/internal/slugs/web/1.0", good),
    ];
    const bodies = await Promise.all(refusals.map(async (res) => `${res.status} ${await res.text()}`));
    expect(new Set(bodies)).toEqual(new Set(['404 {"error":{"code":"not_found","message":"no such slug"}}']));
    expect(t.logger.lines.join("\n")).not.toContain(good);
  });

  test("a release hot-upgraded into the serving one boots the serving one's slug (a replica Swarm starts again gets the upgraded code)", async () => {
    const { web } = await setup();
    t.state.releases.setStatus(web.id, 2, "failed");
    const hot = t.state.releases.append({ appId: web.id, appName: "web", summary: "Hot upgrade", config: {}, slug: "ef34ab", processTypes: { web: "x" }, gitSha: "def5678", status: "succeeded", createdBy: null, hotFrom: 1 });
    writeFileSync(join(t.dir, "slugs", "web", "ef34ab.tar.gz"), "upgraded slug");
    const res = await fetchSlug("/internal/slugs/web/1", t.state.slugTokens.tokenFor(web, 1).reveal());
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("upgraded slug");
    expect(t.state.releases.current(web.id)?.version).toBe(hot.version);
    // A release outside the serving one's lineage keeps its own slug.
    const api = t.state.apps.byName("api")!;
    expect(await (await fetchSlug("/internal/slugs/api/1", t.state.slugTokens.tokenFor(api, 1).reveal())).text()).toBe("api slug");
  });

  test("the slug's file gone from disk is a 404 too", async () => {
    const { web } = await setup();
    rmSync(join(t.dir, "slugs", "web"), { recursive: true });
    const res = await fetchSlug("/internal/slugs/web/1", t.state.slugTokens.tokenFor(web, 1).reveal());
    expect(res.status).toBe(404);
  });

  test("an app name that is no app name is refused before anything is looked up", async () => {
    await setup();
    const res = await fetchSlug("/internal/slugs/Web/1", "x");
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("invalid app name");
  });

  test("the rest of /internal still exists on the unix socket only", async () => {
    await setup();
    expect((await t.api.request("/internal/push", { method: "POST", body: "{}" }, { transport: "tcp" })).status).toBe(404);
    expect((await t.api.request("/internal/push", { method: "POST", body: "{}", headers: { "content-type": "application/json" } }, { transport: "unix" })).status).toBe(400);
  });

  test("an API key is no slug token", async () => {
    await setup();
    const admin = t.state.apiKeys.issue(t.state.users.byEmail("admin@example.com")!.id).key;
    expect((await fetchSlug("/internal/slugs/web/1", admin)).status).toBe(404);
  });
});
