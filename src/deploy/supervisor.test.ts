import { afterEach, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMemoryLogger } from "../lib/logger.ts";
import type { Backend } from "../router/index.ts";
import type { Replica, ReplicaEvent, Runner } from "../runner/types.ts";
import { openDatabase } from "../state/db.ts";
import { createState } from "../state/index.ts";
import { RouteKeeper } from "./route-keeper.ts";
import { Supervisor } from "./supervisor.ts";

/**
 * The supervisor against a scripted engine: the events a runner reports, the
 * replicas it lists, and a real TCP port for the health check. The app runs
 * without distribution, so only that port is checked.
 */
const state = createState(openDatabase(join(mkdtempSync(join(tmpdir(), "beamstalk-supervisor-")), "state.db")).db, randomBytes(32));
const owner = state.users.create({ email: "o@example.com", passwordHash: "x", isAdmin: true });
const app = state.apps.create("shop", owner);
state.releases.append({ appId: app.id, appName: "shop", summary: "v1", config: { RELEASE_DISTRIBUTION: "none" }, slug: "aa", processTypes: { web: "bin/shop start" }, gitSha: null, status: "succeeded", createdBy: null });
state.formation.set(app.id, "web", { count: 1, size: 1 });

const listeners: { stop(force?: boolean): void }[] = [];
const supervisors: Supervisor[] = [];
afterEach(() => {
  for (const s of supervisors.splice(0)) s.stop();
  for (const l of listeners.splice(0)) l.stop(true);
});

/** An address that accepts connections, as a replica that booted does. */
function listening(): Backend {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  listeners.push(l);
  return { host: "127.0.0.1", port: l.port };
}

const replica = (address: Backend, over: Partial<Replica> = {}): Replica => ({
  id: "svc-web-1", name: "web-1", hostname: "web-1", app: "shop", release: 1, process: "web", index: 1, address, state: "running", startedAt: null, restarts: 0, size: 1, ...over,
});

function scripted(o: { list: () => Replica[] }) {
  const queue: ReplicaEvent[][] = [];
  let wake: (() => void) | null = null;
  const revived: string[] = [];
  const runner = {
    list: async () => o.list(),
    revive: async (id: string) => (revived.push(id), o.list()[0]!),
    settle: async () => {},
    async *events(signal: AbortSignal) {
      while (!signal.aborted) {
        const batch = queue.shift();
        if (batch) for (const event of batch) yield event;
        else await new Promise<void>((done) => ((wake = done), signal.addEventListener("abort", () => done(), { once: true })));
      }
    },
  } as unknown as Runner;
  const routed: Backend[][] = [];
  const abandoned: Backend[] = [];
  const routes = new RouteKeeper({ setRoute: (_app, _hosts, backends) => routed.push(backends), removeRoute: () => {}, drain: async () => ({ drained: true, inFlight: 0 }), abandon: (b) => abandoned.push(...b) });
  const told: string[] = [];
  const supervisor = new Supervisor({ state, runner, routes, logger: createMemoryLogger(), baseDelayMs: 20, onRevive: (a, r, n) => told.push(`${a} ${r} ${n}`) });
  supervisors.push(supervisor);
  return {
    supervisor,
    routes,
    revived,
    abandoned,
    told,
    emit(...batch: ReplicaEvent[]) {
      queue.push(batch);
      wake?.();
    },
  };
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await Bun.sleep(20);
  if (!ok()) throw new Error(`${what}: not within 4 s`);
}

test("Swarm replaced a task (its death and the new task's start in one poll): the new address is routed, the old one cut, nothing started twice", async () => {
  const old = { host: "127.0.0.1", port: 1 };
  const fresh = listening();
  const s = scripted({ list: () => [replica(fresh, { restarts: 1 })] });
  s.routes.setRoute("shop", ["shop.test"], [old]);
  s.supervisor.start();
  s.emit({ id: "svc-web-1", app: "shop", action: "die" }, { id: "svc-web-1", app: "shop", action: "start" });
  await until("the new task in the route", () => s.routes.backends("shop").some((b) => b.port === fresh.port));
  expect(s.routes.backends("shop")).toEqual([fresh]);
  expect(s.abandoned).toEqual([old]);
  expect(s.revived).toEqual([]);
  expect(s.told).toEqual(["shop web.1 1"]);
});

test("a replaced task that got its dead predecessor's address again: out of the route and cut at the death, back once it answers", async () => {
  const address = listening();
  let current = replica(address, { state: "starting", restarts: 1 });
  const s = scripted({ list: () => [current] });
  s.routes.setRoute("shop", ["shop.test"], [address]);
  s.supervisor.start();
  s.emit({ id: "svc-web-1", app: "shop", action: "die", address });
  await until("the address out of the route", () => s.routes.backends("shop").length === 0);
  expect(s.abandoned).toEqual([address]);
  current = replica(address, { restarts: 1 });
  s.emit({ id: "svc-web-1", app: "shop", action: "start" });
  await until("back in the route", () => s.routes.backends("shop").length === 1);
  expect(s.revived).toEqual([]);
});

test("a replica the engine does not restart (exited) is started again after the back-off, and routed once it answers", async () => {
  const address = listening();
  let current = replica(address, { state: "exited" });
  const s = scripted({ list: () => [current] });
  s.routes.setRoute("shop", ["shop.test"], [address]);
  s.supervisor.start();
  s.emit({ id: "svc-web-1", app: "shop", action: "die" });
  await until("the dead replica out of the route", () => s.routes.backends("shop").length === 0);
  await until("a revive", () => s.revived.length === 1);
  current = replica(address);
  s.emit({ id: "svc-web-1", app: "shop", action: "start" });
  await until("back in the route", () => s.routes.backends("shop").length === 1);
  expect(s.revived).toEqual(["svc-web-1"]);
  expect(s.told).toEqual(["shop web.1 1"]);
});

test("a replica the engine is already bringing back (starting) is left to it: no second start", async () => {
  const address = listening();
  const s = scripted({ list: () => [replica(address, { state: "starting" })] });
  s.routes.setRoute("shop", ["shop.test"], [address]);
  s.supervisor.start();
  s.emit({ id: "svc-web-1", app: "shop", action: "die" });
  await until("the dead replica out of the route", () => s.routes.backends("shop").length === 0);
  await Bun.sleep(200);
  expect(s.revived).toEqual([]);
});
