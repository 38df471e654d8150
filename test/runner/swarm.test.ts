import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import { Secret } from "../../src/lib/secret.ts";
import { SwarmRunner } from "../../src/runner/swarm/runner.ts";
import type { SwarmTask } from "../../src/runner/swarm/tasks.ts";
import { runnerContract } from "../contract/runner.contract.ts";
import { SLUG_COMMAND, get, makeSlug, testAppFiles } from "../contract/test-slug.ts";
import { CONTROLLER_ADDR, type SwarmHosts, startSwarmHosts } from "../support/swarm-hosts.ts";

/**
 * The runner contract against a real Swarm of three hosts: this machine's
 * engine as manager and two more dockerds, each in a network namespace of its
 * own (test/support/swarm-hosts.ts). Replicas fetch their slug over HTTP from
 * a server on the controller's lan address, as they do from the daemon.
 * The runner reaches the other hosts' engines through their sockets here;
 * the daemon does it through the Beamstalk agent (test/agent/).
 */
const IMAGE = "beamstalk/run:bookworm";
const RUN = `sw${Math.random().toString(36).slice(2, 8)}`;
const TEST_LABEL = { "beamstalk.test": RUN };
const manager = new Docker({ socketPath: "/var/run/docker.sock" });
const logger = createMemoryLogger();
const bootDir = mkdtempSync(join(tmpdir(), "beamstalk-swarm-runner-"));
const slugToken = new Secret(crypto.randomUUID());
let cluster: SwarmHosts;
let slugServer: ReturnType<typeof Bun.serve>;
const engines = new Map<string, Docker>();
/** Harness host name by Swarm node id (the controller's node has none: it never dies here). */
const hostOfNode = new Map<string, string>();

/** Serves any slug file the contract made, to the holder of the token (what /internal/slugs does in the daemon). */
function serveSlugs() {
  return Bun.serve({
    hostname: CONTROLLER_ADDR,
    port: 0,
    fetch(req) {
      if (req.headers.get("authorization") !== `Bearer ${slugToken.reveal()}`) return new Response("no", { status: 404 });
      const path = decodeURIComponent(new URL(req.url).pathname.slice("/slug/".length));
      const file = Bun.file(path);
      return file.size > 0 || path.endsWith(".tar.gz") ? new Response(file) : new Response("no", { status: 404 });
    },
  });
}

async function engineOf(nodeId: string): Promise<Docker> {
  const engine = engines.get(nodeId);
  if (!engine) throw new Error(`no engine for node ${nodeId}`);
  return engine;
}

async function taskOf(serviceId: string): Promise<SwarmTask> {
  const tasks = (await manager.listTasks({ filters: { service: [serviceId], "desired-state": ["running"] } })) as SwarmTask[];
  const task = tasks.find((t) => t.Status.State === "running");
  if (!task) throw new Error(`service ${serviceId} has no running task`);
  return task;
}

const makeRunner = () =>
  new SwarmRunner({ docker: manager, logger, bootDir, labels: TEST_LABEL, bootTimeoutMs: 45_000, bootCpus: 1, pollMs: 300, gatewayImage: async () => IMAGE, nodes: { forNode: engineOf } });

beforeAll(async () => {
  cluster = await startSwarmHosts({ hosts: 2, images: [IMAGE] });
  for (const host of [{ name: "", socket: cluster.managerSocket }, ...cluster.hosts]) {
    const docker = new Docker({ socketPath: host.socket });
    const info = (await docker.info()) as { Swarm: { NodeID: string } };
    engines.set(info.Swarm.NodeID, docker);
    if (host.name) hostOfNode.set(info.Swarm.NodeID, host.name);
  }
  slugServer = serveSlugs();
}, 180_000);

afterAll(async () => {
  slugServer?.stop(true);
  for (const c of await manager.listContainers({ all: true, filters: { label: [`beamstalk.test=${RUN}`] } })) await manager.getContainer(c.Id).remove({ force: true }).catch(() => {});
  await cluster?.stop();
  for (const n of await manager.listNetworks({ filters: { label: [`beamstalk.test=${RUN}`] } })) await manager.getNetwork(n.Id).remove().catch(() => {});
  Bun.spawnSync(["ip", "route", "flush", "root", "10.246.0.0/16"]);
  rmSync(bootDir, { recursive: true, force: true });
}, 120_000);

runnerContract("swarm", async () => ({ runner: makeRunner(), cleanup: async () => {} }), {
  image: IMAGE,
  appPrefix: RUN,
  logLines: () => logger.lines,
  limits: async (id) => {
    const task = await taskOf(id);
    const info = await (await engineOf(task.NodeID!)).getContainer(task.Status.ContainerStatus!.ContainerID!).inspect();
    return { memoryBytes: info.HostConfig.Memory ?? 0, nanoCpus: info.HostConfig.NanoCpus ?? 0 };
  },
  leftovers: async (app) => {
    // Swarm ORs label filters: match the app here.
    const mine = (labels: Record<string, string> | undefined) => labels?.["beamstalk.test"] === RUN && labels["beamstalk.app"] === app;
    const services = (await manager.listServices({ filters: { label: [`beamstalk.test=${RUN}`] } })).filter((s) => mine(s.Spec?.Labels));
    const networks = (await manager.listNetworks()).filter((n) => mine(n.Labels)).map((n) => n.Name);
    const containers = (await Promise.all([...engines.values()].map((e) => e.listContainers({ all: true, filters: { label: [`beamstalk.app=${app}`] } })))).flat();
    return [...services.map((s) => s.Spec?.Name ?? s.ID), ...networks, ...containers.map((c) => c.Names[0] ?? c.Id)];
  },
  slugUrl: (slugPath) => ({ url: `http://${CONTROLLER_ADDR}:${slugServer.port}/slug/${encodeURIComponent(slugPath)}`, token: slugToken }),
});

describe("swarm specifics", () => {
  const app = `${RUN}-s`;
  let runner: SwarmRunner;
  let dir = "";
  let slug = "";
  const spec = (index: number) => ({
    app, release: 1, process: "web", index, image: IMAGE, command: SLUG_COMMAND, slugPath: slug, env: {}, port: 4000, size: 0.25,
    slugUrl: { url: `http://${CONTROLLER_ADDR}:${slugServer.port}/slug/${encodeURIComponent(slug)}`, token: slugToken },
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "beamstalk-swarm-"));
    slug = await makeSlug(dir, "app.tar.gz", testAppFiles());
    runner = makeRunner();
  });

  afterAll(async () => {
    await runner.removeApp(app).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  test("three replicas land on three hosts, publish nothing, and answer the controller on their overlay addresses", async () => {
    const replicas = await Promise.all([1, 2, 3].map((i) => runner.start(spec(i))));
    const nodes = new Set(replicas.map((r) => r.node));
    expect(nodes.size).toBe(3);
    for (const r of replicas) {
      expect(r.address.host).toMatch(/^10\.246\./);
      expect(await get(r, "/env/DYNO")).toBe(`web.${r.index}`);
      const service = await manager.getService(r.id).inspect();
      expect(service.Endpoint?.Ports ?? []).toEqual([]);
      expect(service.Spec.EndpointSpec).toEqual({ Mode: "dnsrr" });
    }
    // Across hosts, on the overlay: replica 1 reaches 3 by <app>.internal's answer and by its address.
    expect(await get(replicas[0]!, `/probe/${replicas[2]!.address.host}/4000`)).toBe("ok");
  }, 180_000);

  test("a host that dies: Swarm starts its replica again on another host, under the same replica id", async () => {
    const before = await runner.list(app);
    const victim = before.find((r) => hostOfNode.has(r.node!))!;
    const name = hostOfNode.get(victim.node!)!;
    const t0 = performance.now();
    cluster.killHost(name);
    let moved: (typeof before)[number] | undefined;
    while (performance.now() - t0 < 90_000) {
      moved = (await runner.list(app)).find((r) => r.id === victim.id && r.state === "running" && r.node !== victim.node);
      if (moved) break;
      await Bun.sleep(500);
    }
    expect(moved).toBeDefined();
    console.log(`[swarm] ${name} killed: its replica ran again on another host after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    expect(await get(moved!, "/env/DYNO")).toBe(`web.${victim.index}`);
  }, 120_000);
});
