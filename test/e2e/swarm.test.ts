import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import Docker from "dockerode";
import type { SwarmTask } from "../../src/runner/swarm/tasks.ts";
import { CliUser, type RunningDaemon, startDaemon } from "../support/daemon.ts";
import { createFixtureApp, tearDown } from "../support/fixture-app.ts";
import { underLoad } from "../support/load.ts";
import { CONTROLLER_ADDR, type SwarmHosts, startSwarmHosts } from "../support/swarm-hosts.ts";

/**
 * The daemon with --runner swarm on a real Swarm of three hosts (this
 * machine's engine as manager, two dockerds in network namespaces): a git
 * push deploys the fixture, replicas spread over the hosts, fetch their slug
 * from the controller, answer through the router (via the gateway), and form
 * one Erlang cluster across hosts; a host drained under load, a host killed.
 */
const APP = `swm-${Math.random().toString(36).slice(2, 8)}`;
const LONG = 5 * 60_000;
const manager = new Docker({ socketPath: "/var/run/docker.sock" });
let cluster: SwarmHosts;
let daemon: RunningDaemon;
let owner: CliUser;
let fixture: Awaited<ReturnType<typeof createFixtureApp>>;

async function freePort(): Promise<number> {
  const server = Bun.listen({ hostname: "0.0.0.0", port: 0, socket: { data() {} } });
  const { port } = server;
  server.stop(true);
  return port;
}

async function get(path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(daemon.url + path, { headers: { host: `${APP}.apps.test` }, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text() };
}

/** The app's running replicas as Swarm places them: node id and overlay address. */
async function placement(): Promise<{ node: string; ip: string }[]> {
  const services = (await manager.listServices({ filters: { label: [`beamstalk.app=${APP}`] } })).filter((s) => s.Spec?.Labels?.["beamstalk.app"] === APP);
  if (services.length === 0) return [];
  const tasks = (await manager.listTasks({ filters: { service: services.map((s) => s.ID), "desired-state": ["running"] } })) as SwarmTask[];
  return tasks
    .filter((t) => t.Status.State === "running")
    .map((t) => ({ node: t.NodeID!, ip: t.NetworksAttachments!.find((a) => a.Network.Spec?.Name === `beamstalk-${APP}`)!.Addresses![0]!.split("/")[0]! }));
}

async function nodesSeenBy(ip: string): Promise<string[]> {
  const res = await fetch(`http://${ip}:4000/nodes`, { signal: AbortSignal.timeout(3000) });
  return (await res.text()).split("\n").filter(Boolean);
}

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await Bun.sleep(500);
  }
  throw new Error(`${what} not within ${ms / 1000} s${last ? `: ${last}` : ""}`);
}

beforeAll(async () => {
  cluster = await startSwarmHosts({ hosts: 2, images: ["beamstalk/run:bookworm"] });
  const port = await freePort();
  daemon = await startDaemon({ bind: "0.0.0.0", httpPort: port, args: ["--runner", "swarm", "--controller-url", `http://${CONTROLLER_ADDR}:${port}`] });
  owner = new CliUser(daemon.url);
  await owner.ok(["signup", "--email", "swarm@example.com", "--socket", daemon.socket], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
  fixture = await createFixtureApp(owner, APP);
  const push = await fixture.push();
  expect(push.out + push.err).toContain("web.1 is healthy");
}, LONG);

afterAll(async () => {
  await tearDown(owner, daemon, APP);
  await manager.getContainer("beamstalk-gateway").remove({ force: true }).catch(() => {});
  await cluster?.stop();
  await manager.getNetwork("beamstalk-gateway").remove().catch(() => {});
  Bun.spawnSync(["ip", "route", "flush", "root", "10.246.0.0/16"]);
}, LONG);

describe("more than one host (--runner swarm)", () => {
  test("beamstalk nodes lists the three hosts, ready and active", async () => {
    const hosts = JSON.parse(await owner.ok(["nodes", "--json"])) as { hostname: string; address: string; role: string; state: string; availability: string }[];
    expect(hosts).toHaveLength(3);
    expect(hosts.every((h) => h.state === "ready" && h.availability === "active")).toBe(true);
    expect(hosts.filter((h) => h.role === "manager").map((h) => h.address)).toEqual([CONTROLLER_ADDR]);
  }, LONG);

  test("three replicas on three hosts, served through the router, one Erlang cluster across hosts", async () => {
    await owner.ok(["ps:scale", "-a", APP, "--replicas", "3"]);
    const where = await placement();
    expect(where).toHaveLength(3);
    expect(new Set(where.map((w) => w.node)).size).toBe(3);
    const answers = new Set<string>();
    for (let i = 0; i < 30; i++) answers.add((await get("/env/MY_POD_IP")).body);
    expect([...answers].sort()).toEqual(where.map((w) => w.ip).sort());
    const nodes = where.map((w) => `${APP}@${w.ip}`).sort();
    await until("one cluster of 3 across hosts", 30_000, async () => {
      const views = await Promise.all(where.map(async (w) => ({ me: `${APP}@${w.ip}`, sees: await nodesSeenBy(w.ip) })));
      return views.every((v) => JSON.stringify(v.sees) === JSON.stringify(nodes.filter((n) => n !== v.me))) ? true : undefined;
    });
  }, LONG);

  test("a hot upgrade across hosts: every node upgraded in place, same OS process, state kept", async () => {
    const where = await placement();
    expect(new Set(where.map((w) => w.node)).size).toBe(3);
    const ask = async (ip: string, path: string) => (await fetch(`http://${ip}:4000${path}`, { signal: AbortSignal.timeout(5000) })).text();
    const before = await Promise.all(where.map(async (w) => ({ ip: w.ip, pid: await ask(w.ip, "/pid"), count: Number(await ask(w.ip, "/count")) })));
    const edit = (file: string, from: RegExp, to: string) => Bun.write(`${fixture.repo}/${file}`, readFileSync(`${fixture.repo}/${file}`, "utf8").replace(from, to));
    await edit("mix.exs", /version: "[^"]+"/, 'version: "0.2.0"');
    await edit("lib/hello/version.ex", /"hello v[^"]*"/, '"hello v2"');
    await fixture.git(["commit", "-qam", "0.2.0"]);
    const push = await fixture.git(["push", "-o", "hot", "beamstalk", "main"]);
    expect(push.code).toBe(0);
    expect(push.err).toMatch(/is live on 3 replicas, upgraded in place in [\d.]+ s/);
    console.log(`[swarm e2e] hot upgrade of 3 replicas on 3 hosts: ${push.err.match(/upgraded in place in [\d.]+ s/)?.[0]}`);
    for (const b of before) {
      expect(await ask(b.ip, "/pid")).toBe(b.pid);
      expect(Number(await ask(b.ip, "/count"))).toBe(b.count + 1);
      expect(await ask(b.ip, "/")).toBe("hello v2\n");
    }
    expect((await get("/")).body).toBe("hello v2\n");
  }, LONG);

  test("nodes:drain moves a host's replicas to the others under a steady request loop: no failed request", async () => {
    const victim = cluster.hosts[0]!;
    const { failures, ok } = await underLoad(() => get("/"), () => owner.ok(["nodes:drain", victim.address]), { pauseMs: 15, maxMs: 4 * 60_000 });
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(50);
    const hosts = JSON.parse(await owner.ok(["nodes", "--json"])) as { id: string; address: string; availability: string; replicas: number }[];
    const drained = hosts.find((h) => h.address === victim.address)!;
    expect(drained).toMatchObject({ availability: "drain", replicas: 0 });
    expect((await placement()).every((w) => w.node !== drained.id)).toBe(true);
    expect(await placement()).toHaveLength(3);
    // The last host that can take replicas cannot be drained: a clear refusal, nothing changes.
    await owner.ok(["nodes:activate", victim.address]);
  }, LONG);

  test("a host's dockerd killed: its replicas serve from the others, and the route stops pointing at them", async () => {
    const hosts = JSON.parse(await owner.ok(["nodes", "--json"])) as { id: string; address: string; replicas: number }[];
    const victim = hosts.find((h) => h.address !== CONTROLLER_ADDR && h.replicas > 0)!;
    const name = cluster.hosts.find((h) => h.address === victim.address)!.name;
    const t0 = Date.now();
    cluster.killHost(name);
    const moved = await until("its replicas running on the other hosts", 90_000, async () => {
      const where = await placement();
      return where.length === 3 && where.every((w) => w.node !== victim.id) ? where : undefined;
    });
    const back = Date.now() - t0;
    // From here every request is answered by a live replica.
    const answers = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const res = await get("/env/MY_POD_IP");
      expect(res.status).toBe(200);
      answers.add(res.body);
    }
    expect([...answers].every((ip) => moved.some((w) => w.ip === ip))).toBe(true);
    console.log(`[swarm e2e] ${name} killed: its replicas ran on the other hosts after ${(back / 1000).toFixed(1)} s`);
  }, LONG);
});
