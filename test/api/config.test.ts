import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { testApi } from "../support/api.ts";

let t: ReturnType<typeof testApi>;
afterEach(() => t?.close());

async function withApp() {
  t = testApi();
  const key = await t.admin();
  await t.call("POST", "/api/apps", { key, body: { name: "web" } });
  return key;
}

describe("config", () => {
  test("each change is release n+1 with a summary and a full snapshot", async () => {
    const key = await withApp();
    const r1 = await t.call("PATCH", "/api/apps/web/config", { key, body: { set: { A: "1", B: "x=y" } } });
    expect(r1.body).toEqual({ version: 1, summary: "Set A, B config vars", status: "recorded" });
    const r2 = await t.call("PATCH", "/api/apps/web/config", { key, body: { unset: ["A"] } });
    expect(r2.body.version).toBe(2);
    expect(r2.body.summary).toBe("Unset A config var");
    expect((await t.call("GET", "/api/apps/web/config", { key })).body).toEqual({ B: "x=y" });

    const releases = await t.call("GET", "/api/apps/web/releases", { key });
    expect(releases.body.map((r: { version: number; summary: string }) => [r.version, r.summary])).toEqual([
      [2, "Unset A config var"],
      [1, "Set A, B config vars"],
    ]);
    const app = t.state.apps.byName("web")!;
    expect(t.state.releases.config(app.id, app.name, 1)).toEqual({ A: "1", B: "x=y" });
    expect(t.state.releases.config(app.id, app.name, 2)).toEqual({ B: "x=y" });
  });

  test("bad input changes nothing: bad key, oversized value, unknown key to unset, empty change", async () => {
    const key = await withApp();
    await t.call("PATCH", "/api/apps/web/config", { key, body: { set: { KEEP: "me" } } });
    const cases: [unknown, number, RegExp][] = [
      [{ set: { "BAD-KEY": "1", GOOD: "2" } }, 400, /invalid config key/],
      [{ set: { BIG: "s".repeat(32 * 1024 + 1) } }, 400, /larger than 32 KiB/],
      [{ set: { N: 5 } }, 400, /must be a string/],
      [{ unset: ["KEEP", "MISSING"] }, 404, /MISSING not set on web/],
      [{}, 400, /nothing to change/],
      [{ set: { A: "1" }, unset: ["A"] }, 400, /both set and unset/],
      [{ set: ["A=1"] }, 400, /must be an object/],
    ];
    for (const [body, status, message] of cases) {
      const res = await t.call("PATCH", "/api/apps/web/config", { key, body });
      expect(res.status).toBe(status);
      expect(res.body.error.message).toMatch(message);
    }
    expect((await t.call("GET", "/api/apps/web/config", { key })).body).toEqual({ KEEP: "me" });
    expect((await t.call("GET", "/api/apps/web/releases", { key })).body).toHaveLength(1);
  });

  test("copy takes every var from one app to another as one release", async () => {
    const key = await withApp();
    await t.call("POST", "/api/apps", { key, body: { name: "staging" } });
    await t.call("PATCH", "/api/apps/web/config", { key, body: { set: { A: "1", B: "2" } } });
    await t.call("PATCH", "/api/apps/staging/config", { key, body: { set: { A: "old", C: "3" } } });
    const res = await t.call("POST", "/api/apps/staging/config/copy", { key, body: { from: "web" } });
    expect(res.body).toMatchObject({ version: 2, summary: "Copy config from web" });
    expect((await t.call("GET", "/api/apps/staging/config", { key })).body).toEqual({ A: "1", B: "2", C: "3" });
    expect((await t.call("POST", "/api/apps/staging/config/copy", { key, body: { from: "../x" } })).status).toBe(400);
    expect((await t.call("POST", "/api/apps/staging/config/copy", { key, body: { from: "nope" } })).status).toBe(404);
  });

  test("values are encrypted at rest and never logged", async () => {
    const key = await withApp();
    const secret = "sk_live_" + crypto.randomUUID();
    await t.call("PATCH", "/api/apps/web/config", { key, body: { set: { STRIPE_KEY: secret } } });
    t.state.db.run("PRAGMA wal_checkpoint(TRUNCATE)");
    const raw = readFileSync(join(t.dir, "state.db"));
    expect(raw.includes(Buffer.from(secret))).toBe(false);
    expect(raw.includes(Buffer.from("STRIPE_KEY"))).toBe(true);
    expect(t.logger.lines.join("\n")).toContain("keys=STRIPE_KEY");
    expect(t.logger.lines.join("\n")).not.toContain(secret);
    expect((await t.call("GET", "/api/apps/web/config", { key })).body.STRIPE_KEY).toBe(secret);
  });
});

describe("SSH keys", () => {
  function keygen() {
    const dir = require("node:fs").mkdtempSync(join(require("node:os").tmpdir(), "beamstalk-k-"));
    Bun.spawnSync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "laptop", "-f", join(dir, "id")]);
    return readFileSync(join(dir, "id.pub"), "utf8");
  }

  test("add, list, refuse duplicates across accounts, remove only your own", async () => {
    t = testApi();
    const admin = await t.admin();
    const dev = await t.user(admin, "dev@example.com");
    const pub = keygen();
    const added = await t.call("POST", "/api/account/ssh_keys", { key: dev, body: { key: pub } });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ type: "ssh-ed25519", comment: "laptop" });
    expect(added.body.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect((await t.call("POST", "/api/account/ssh_keys", { key: dev, body: { key: pub } })).status).toBe(409);
    expect((await t.call("POST", "/api/account/ssh_keys", { key: admin, body: { key: pub } })).status).toBe(409);
    expect((await t.call("POST", "/api/account/ssh_keys", { key: dev, body: { key: "ssh-ed25519 garbage" } })).status).toBe(400);

    expect((await t.call("GET", "/api/account/ssh_keys", { key: admin })).body).toEqual([]);
    expect((await t.call("DELETE", `/api/account/ssh_keys/${added.body.id}`, { key: admin })).status).toBe(404);
    expect((await t.call("DELETE", "/api/account/ssh_keys/abc", { key: dev })).status).toBe(400);
    expect((await t.call("DELETE", `/api/account/ssh_keys/${added.body.id}`, { key: dev })).status).toBe(204);
    expect((await t.call("GET", "/api/account/ssh_keys", { key: dev })).body).toEqual([]);
  });
});
