import { afterEach, describe, expect, test } from "bun:test";
import { testApi } from "../support/api.ts";

const DAY = 86_400_000;
let now: Date;
let t: ReturnType<typeof testApi>;
afterEach(() => t?.close());

async function setup() {
  now = new Date("2024-03-01T00:00:00.000Z");
  t = testApi({ clock: () => now });
  const admin = await t.admin();
  const alice = await t.user(admin, "alice@example.com");
  const bob = await t.user(admin, "bob@example.com");
  return { admin, alice, bob };
}

/** Creates the app over the API and returns what Usage.record needs. */
async function app(key: string, name: string) {
  const res = await t.call("POST", "/api/apps", { key, body: { name } });
  expect(res.status).toBe(201);
  return t.state.apps.byName(name)!;
}

const advance = (days: number) => (now = new Date(now.getTime() + days * DAY));

describe("price", () => {
  test("only an admin sets it; everyone can read it", async () => {
    const { admin, alice } = await setup();
    expect((await t.call("GET", "/api/settings/price", { key: alice })).body).toEqual({ price: null, currency: null });
    const refused = await t.call("PUT", "/api/settings/price", { key: alice, body: { price: "0.00001", currency: "USD" } });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toBe("only admins can set the price");
    const set = await t.call("PUT", "/api/settings/price", { key: admin, body: { price: "0.00001", currency: "usd" } });
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ price: "0.00001", currency: "USD" });
    expect((await t.call("GET", "/api/settings/price", { key: alice })).body).toEqual({ price: "0.00001", currency: "USD" });
  });

  test("a price that is not an exact decimal string is refused", async () => {
    const { admin } = await setup();
    for (const price of [0.00001, "1e-5", "-1", "abc"]) {
      const res = await t.call("PUT", "/api/settings/price", { key: admin, body: { price, currency: "USD" } });
      expect(res.status).toBe(400);
    }
    expect((await t.call("PUT", "/api/settings/price", { key: admin, body: { price: "1", currency: "dollars" } })).status).toBe(400);
    expect(t.state.usage.price()).toBeNull();
  });

  test("needs an API key", async () => {
    await setup();
    expect((await t.call("PUT", "/api/settings/price", { body: { price: "1" } })).status).toBe(401);
    expect((await t.call("GET", "/api/account/usage")).status).toBe(401);
    expect((await t.call("GET", "/api/account/invoices")).status).toBe(401);
  });
});

describe("account usage", () => {
  test("this month so far, per app and process, with amounts at the set price", async () => {
    const { admin, alice } = await setup();
    await t.call("PUT", "/api/settings/price", { key: admin, body: { price: "0.00001", currency: "USD" } });
    const web = await app(alice, "web");
    t.state.usage.record(web, "web", 1, 0.5);
    t.state.usage.record(web, "worker", 2, 1);
    advance(1);
    const res = await t.call("GET", "/api/account/usage", { key: alice });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      from: "2024-03-01T00:00:00.000Z",
      to: "2024-03-02T00:00:00.000Z",
      price: "0.00001",
      currency: "USD",
      lines: [
        { app: "web", process: "web", replica_size_seconds: 43_200, amount: "0.432" },
        { app: "web", process: "worker", replica_size_seconds: 172_800, amount: "1.728" },
      ],
      replica_size_seconds: 216_000,
      amount: "2.16",
    });
  });

  test("with no price set, amounts are null", async () => {
    const { alice } = await setup();
    t.state.usage.record(await app(alice, "web"), "web", 1, 1);
    advance(1);
    const res = await t.call("GET", "/api/account/usage", { key: alice });
    expect(res.body).toMatchObject({ price: null, amount: null, replica_size_seconds: 86_400 });
    expect(res.body.lines[0].amount).toBeNull();
  });

  test("another user's usage never shows, admins included", async () => {
    const { admin, alice, bob } = await setup();
    t.state.usage.record(await app(alice, "alice-web"), "web", 1, 1);
    t.state.usage.record(await app(bob, "bob-web"), "web", 3, 2);
    advance(2);
    const apps = async (key: string) => (await t.call("GET", "/api/account/usage", { key })).body.lines.map((l: { app: string }) => l.app);
    expect(await apps(alice)).toEqual(["alice-web"]);
    expect(await apps(bob)).toEqual(["bob-web"]);
    expect(await apps(admin)).toEqual([]);
    const invoices = async (key: string) => (await t.call("GET", "/api/account/invoices", { key })).body;
    advance(40);
    expect((await invoices(alice)).flatMap((s: { lines: { app: string }[] }) => s.lines.map((l) => l.app))).toEqual(["alice-web"]);
    expect(await invoices(admin)).toEqual([]);
  });
});

describe("invoices", () => {
  test("GIGALIXIR's 31 days of one 0.5-size replica make March's statement; April is still running", async () => {
    const { admin, alice } = await setup();
    await t.call("PUT", "/api/settings/price", { key: admin, body: { price: "0.00001", currency: "USD" } });
    const web = await app(alice, "web");
    t.state.usage.record(web, "web", 1, 0.5);
    advance(31); // 2024-04-01T00:00Z
    advance(5);
    const res = await t.call("GET", "/api/account/invoices", { key: alice });
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      {
        month: "2024-03",
        from: "2024-03-01T00:00:00.000Z",
        to: "2024-04-01T00:00:00.000Z",
        price: "0.00001",
        currency: "USD",
        lines: [{ app: "web", process: "web", replica_size_seconds: 1_339_200, amount: "13.392" }],
        replica_size_seconds: 1_339_200,
        amount: "13.392",
      },
    ]);
    expect((await t.call("GET", "/api/account/usage", { key: alice })).body.replica_size_seconds).toBe(5 * 43_200);
  });

  test("usage across a month boundary is split; a deleted app stays on the owner's invoice by name", async () => {
    const { alice } = await setup();
    now = new Date("2024-03-31T18:00:00.000Z");
    const web = await app(alice, "web");
    t.state.usage.record(web, "web", 2, 1);
    now = new Date("2024-04-01T03:00:00.000Z");
    expect((await t.call("DELETE", "/api/apps/web?confirm=web", { key: alice })).status).toBe(204);
    t.state.usage.stopApp(web); // what the daemon does when it stops the app's replicas
    now = new Date("2024-05-02T00:00:00.000Z");
    const res = await t.call("GET", "/api/account/invoices", { key: alice });
    expect(res.body.map((s: { month: string; lines: unknown[] }) => [s.month, s.lines])).toEqual([
      ["2024-04", [{ app: "web", process: "web", replica_size_seconds: 2 * 3 * 3600, amount: null }]],
      ["2024-03", [{ app: "web", process: "web", replica_size_seconds: 2 * 6 * 3600, amount: null }]],
    ]);
    expect((await t.call("GET", "/api/account/usage", { key: alice })).body.lines).toEqual([]);
  });

  test("no usage, no statements", async () => {
    const { alice } = await setup();
    expect((await t.call("GET", "/api/account/invoices", { key: alice })).body).toEqual([]);
  });
});
