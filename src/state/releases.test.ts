import { expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "./db.ts";
import { createState } from "./index.ts";

const dir = mkdtempSync(join(tmpdir(), "beamstalk-releases-unit-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

test("lineage: a hot upgrade's replicas are those of the releases it was installed into, and no others", () => {
  const state = createState(openDatabase(join(dir, "state.db")).db, randomBytes(32));
  const owner = state.users.create({ email: "o@example.com", passwordHash: "x", isAdmin: false });
  const app = state.apps.create("hello", owner);
  const add = (hotFrom?: number) =>
    state.releases.append({ appId: app.id, appName: app.name, summary: "x", config: {}, slug: "s", gitSha: null, status: "succeeded", createdBy: null, ...(hotFrom ? { hotFrom } : {}) });
  expect(add().hotFrom).toBeNull(); // v1, deployed
  add(1); // v2, hot into v1's replicas
  add(2); // v3, hot again, same containers
  add(); // v4, a normal deploy: new containers
  add(4); // v5, hot into v4's
  expect([...state.releases.lineage(app.id, 3)].sort()).toEqual([1, 2, 3]);
  expect([...state.releases.lineage(app.id, 4)]).toEqual([4]);
  expect([...state.releases.lineage(app.id, 5)].sort()).toEqual([4, 5]);
  expect(state.releases.get(app.id, 5)!.hotFrom).toBe(4);
  expect([...state.releases.lineage(app.id, 99)]).toEqual([99]);
});
