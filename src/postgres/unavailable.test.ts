import { afterAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMemoryLogger } from "../lib/logger.ts";
import { openDatabase } from "../state/db.ts";
import { createState } from "../state/index.ts";
import { Postgres } from "./service.ts";

const dir = mkdtempSync(join(tmpdir(), "beamstalk-pg-unavailable-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a server that cannot run databases (--runner k3s) refuses pg:create with why, and records nothing", async () => {
  const state = createState(openDatabase(join(dir, "state.db")).db, randomBytes(32));
  const owner = state.users.create({ email: "o@example.com", passwordHash: "x", isAdmin: true });
  const app = state.apps.create("hello", owner);
  const touched: string[] = [];
  const postgres = new Postgres({
    databases: state.databases,
    backups: state.backups,
    activity: state.activity,
    dataDir: dir,
    logger: createMemoryLogger(),
    network: { ensure: async (a) => void touched.push(`ensure ${a}`), name: (a) => a },
    setConfig: async () => void touched.push("setConfig"),
    unavailable: { reason: "managed PostgreSQL is not available with --runner k3s", hint: "set DATABASE_URL" },
  });
  const err = await postgres.create(app, {}, owner.id).then(() => null, (e) => e);
  expect(err).toMatchObject({ code: "bad_request", message: "managed PostgreSQL is not available with --runner k3s", hint: "set DATABASE_URL" });
  expect(state.databases.get(app)).toBeNull();
  expect(touched).toEqual([]);
});
