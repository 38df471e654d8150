import { expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMemoryLogger } from "../lib/logger.ts";
import type { Replica } from "../runner/types.ts";
import type { SwarmHost, SwarmNodes } from "../runner/swarm/nodes.ts";
import { openDatabase } from "../state/db.ts";
import { type App, createState } from "../state/index.ts";
import { drainHost } from "./drain-host.ts";

const state = createState(openDatabase(join(mkdtempSync(join(tmpdir(), "beamstalk-drain-")), "state.db")).db, randomBytes(32));
const admin = state.users.create({ email: "a@example.com", passwordHash: "x", isAdmin: true });
state.apps.create("one", admin);
state.apps.create("two", admin);

const host = (id: string, over: Partial<SwarmHost> = {}): SwarmHost => ({ id, hostname: id, address: `10.0.0.${id.length}`, role: "worker", state: "ready", availability: "active", leader: false, cpus: 2, memoryBytes: 1, replicas: 1, ...over });
const replica = (app: string, node: string): Replica => ({ id: `${app}-${node}`, name: app, hostname: "h", app, release: 1, process: "web", index: 1, address: { host: "", port: 4000 }, state: "running", startedAt: null, restarts: 0, size: 1, node });

function fakes(o: { hosts: SwarmHost[]; replicas: Replica[]; restartFails?: boolean }) {
  const calls: string[] = [];
  let replicas = o.replicas;
  const nodes = {
    find: async (name: string) => o.hosts.find((h) => h.hostname === name)!,
    othersActive: async (h: SwarmHost) => o.hosts.filter((x) => x.id !== h.id && x.availability === "active"),
    setAvailability: async (h: SwarmHost, a: string) => void calls.push(`${h.hostname}=${a}`),
  } as unknown as SwarmNodes;
  const deps = {
    controllerNode: "ctl",
    nodes,
    state,
    logger: createMemoryLogger(),
    runner: { list: async () => replicas },
    restart: async (app: App) => {
      calls.push(`restart ${app.name}`);
      if (o.restartFails) throw new Error("web.1 did not become healthy");
      replicas = replicas.map((r) => (r.app === app.name ? { ...r, node: "b" } : r));
    },
  };
  return { deps, calls };
}

test("drain: the host takes no new tasks, each app on it rolls onto the others, then it is drained", async () => {
  const { deps, calls } = fakes({ hosts: [host("a"), host("b")], replicas: [replica("one", "a"), replica("two", "b")] });
  const lines: string[] = [];
  const drained = await drainHost(deps, "a", admin, (l) => lines.push(l));
  expect(calls).toEqual(["a=pause", "restart one", "a=drain"]);
  expect(drained).toMatchObject({ availability: "drain", replicas: 0 });
  expect(lines[0]).toBe("a: moving one to b");
});

test("the last host that can run replicas is refused; nothing changes", async () => {
  const { deps, calls } = fakes({ hosts: [host("a"), host("b", { availability: "drain" })], replicas: [replica("one", "a")] });
  await expect(drainHost(deps, "a", admin, () => {})).rejects.toThrow(/a is the last host that can run replicas/);
  expect(calls).toEqual([]);
});

test("the server's own host is refused (Swarm lets nothing on a drained host join an overlay); nothing changes", async () => {
  const { deps, calls } = fakes({ hosts: [host("ctl", { role: "manager" }), host("b")], replicas: [replica("one", "ctl")] });
  await expect(drainHost(deps, "ctl", admin, () => {})).rejects.toThrow(/ctl runs this Beamstalk server: it cannot be drained/);
  expect(calls).toEqual([]);
});

test("a rolling restart that fails puts the host back to active: what runs stays", async () => {
  const { deps, calls } = fakes({ hosts: [host("a"), host("b")], replicas: [replica("one", "a")], restartFails: true });
  await expect(drainHost(deps, "a", admin, () => {})).rejects.toThrow(/did not become healthy/);
  expect(calls).toEqual(["a=pause", "restart one", "a=active"]);
});
