import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "./db.ts";
import { createState, type State } from "./index.ts";
import { replicaSizeSeconds } from "./metering.ts";

const DAY = 86_400_000;
let now: Date;
let state: State;
let dir: string;
const advance = (days: number) => (now = new Date(now.getTime() + days * DAY));
const rss = (units: bigint) => replicaSizeSeconds(units);

beforeEach(() => {
  now = new Date("2024-01-01T00:00:00.000Z");
  dir = mkdtempSync(join(tmpdir(), "beamstalk-usage-"));
  const { db } = openDatabase(join(dir, "state.db"));
  state = createState(db, randomBytes(32), () => now);
});

afterEach(() => {
  state.db.close();
  rmSync(dir, { recursive: true, force: true });
});

function owner(email: string) {
  return state.users.create({ email, passwordHash: "x", isAdmin: false });
}

describe("Usage.record", () => {
  test("GIGALIXIR's example through recorded formation changes: 8,640,000 replica-size-seconds", () => {
    const alice = owner("alice@example.com");
    const app = state.apps.create("web", alice);
    state.usage.record(app, "web", 1, 1.0);
    advance(10);
    state.usage.record(app, "web", 3, 1.0);
    advance(10);
    state.usage.record(app, "web", 3, 2.0);
    advance(10);
    state.usage.record(app, "web", 0, 2.0);
    const report = state.usage.forAccount(alice.id, new Date("2024-01-01T00:00:00.000Z"), now);
    expect(rss(report.units)).toBe(8_640_000);
    expect(rss(state.usage.forApp(app.id, new Date("2024-01-01T00:00:00.000Z"), now).units)).toBe(8_640_000);
  });

  test("an open period counts until now; recording the same formation again changes nothing", () => {
    const alice = owner("alice@example.com");
    const app = state.apps.create("web", alice);
    state.usage.record(app, "web", 1, 0.5);
    advance(1);
    state.usage.record(app, "web", 1, 0.5);
    advance(1);
    expect(state.db.query("SELECT count(*) AS n FROM usage_periods").get()).toEqual({ n: 1 });
    expect(rss(state.usage.currentMonth(alice.id).units)).toBe(86_400);
  });

  test("processes are metered separately; stopApp closes them all", () => {
    const alice = owner("alice@example.com");
    const app = state.apps.create("web", alice);
    state.usage.record(app, "web", 2, 1);
    state.usage.record(app, "worker", 1, 0.5);
    advance(1);
    state.usage.stopApp(app);
    advance(5);
    const report = state.usage.currentMonth(alice.id);
    expect(report.lines.map((l) => [l.process, rss(l.units)])).toEqual([
      ["web", 2 * 86_400],
      ["worker", 43_200],
    ]);
    expect(state.db.query("SELECT count(*) AS n FROM usage_periods WHERE ended_at IS NULL").get()).toEqual({ n: 0 });
  });

  test("a deleted app's usage stays on the owner's account under its name, and can still be closed", () => {
    const alice = owner("alice@example.com");
    const app = state.apps.create("web", alice);
    state.usage.record(app, "web", 1, 1);
    advance(1);
    state.apps.destroy(app);
    state.usage.record(app, "web", 0, 1); // the formation applied after the row went: closes by name
    advance(3);
    const report = state.usage.currentMonth(alice.id);
    expect(report.lines.map((l) => [l.app, l.process, rss(l.units)])).toEqual([["web", "web", 86_400]]);
  });

  test("one account's usage never shows in another's", () => {
    const alice = owner("alice@example.com");
    const bob = owner("bob@example.com");
    state.usage.record(state.apps.create("alice-app", alice), "web", 1, 1);
    state.usage.record(state.apps.create("bob-app", bob), "web", 1, 1);
    advance(1);
    expect(state.usage.currentMonth(alice.id).lines.map((l) => l.app)).toEqual(["alice-app"]);
    expect(state.usage.currentMonth(bob.id).lines.map((l) => l.app)).toEqual(["bob-app"]);
  });
});

describe("Usage.statements", () => {
  test("one per earlier month with usage, newest first; a period across a month boundary is split", () => {
    const alice = owner("alice@example.com");
    const app = state.apps.create("web", alice);
    now = new Date("2024-01-31T12:00:00.000Z");
    state.usage.record(app, "web", 1, 1);
    now = new Date("2024-02-01T06:00:00.000Z");
    state.usage.record(app, "web", 0, 1);
    now = new Date("2024-04-01T06:00:00.000Z");
    state.usage.record(app, "web", 1, 1); // April: current month, not a statement yet
    now = new Date("2024-04-10T00:00:00.000Z");
    const statements = state.usage.statements(alice.id);
    expect(statements.map((s) => [s.month, rss(s.units)])).toEqual([
      ["2024-02", 6 * 3600],
      ["2024-01", 12 * 3600],
    ]);
    expect(statements[0]!.from.toISOString()).toBe("2024-02-01T00:00:00.000Z");
    expect(statements[0]!.to.toISOString()).toBe("2024-03-01T00:00:00.000Z");
  });

  test("a formation still running shows in every month it ran", () => {
    const alice = owner("alice@example.com");
    now = new Date("2024-01-01T00:00:00.000Z");
    state.usage.record(state.apps.create("web", alice), "web", 1, 0.5);
    now = new Date("2024-03-05T00:00:00.000Z");
    expect(state.usage.statements(alice.id).map((s) => [s.month, rss(s.units)])).toEqual([
      ["2024-02", 29 * 43_200],
      ["2024-01", 1_339_200],
    ]);
    expect(rss(state.usage.currentMonth(alice.id).units)).toBe(4 * 43_200);
  });
});

describe("Usage price", () => {
  test("unset until an admin sets it; stored as given", () => {
    expect(state.usage.price()).toBeNull();
    expect(state.usage.setPrice("0.00001", "usd")).toEqual({ perReplicaSizeSecond: "0.00001", currency: "USD" });
    expect(state.usage.price()).toEqual({ perReplicaSizeSecond: "0.00001", currency: "USD" });
    expect(() => state.usage.setPrice("1e-5", "USD")).toThrow(/decimal number/);
  });
});
