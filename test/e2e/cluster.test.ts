import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { availableParallelism } from "node:os";
import { CliUser, type RunningDaemon, startDaemon } from "../support/daemon.ts";
import { diagnoseCluster } from "../support/cluster-diagnosis.ts";
import { busyCpuSeconds, startCpuLoad } from "../support/cpu-load.ts";
import { createFixtureApp, sshConfigFor, tearDown } from "../support/fixture-app.ts";
import { dockerOn, runningLabelled } from "../support/target.ts";

/**
 * Clustering out of the box, with the compiled binary and real containers: the
 * fixture's Hello.Cluster resolves DNS_CLUSTER_QUERY every second and
 * Node.connect/1s each `<app>@<ip>`; nothing else is configured.
 */
const APP = `clu-${Math.random().toString(36).slice(2, 8)}`;
const OTHER = `clo-${Math.random().toString(36).slice(2, 8)}`;
const LONG = 5 * 60_000;
const NODE = new RegExp(`^${APP}@\\d+\\.\\d+\\.\\d+\\.\\d+$`);
let daemon: RunningDaemon;
let owner: CliUser;
let sshEnv: Record<string, string>;

interface PsReplica {
  name: string;
  state: string;
  restarts: number;
  node: string | null;
  connected_nodes: string[] | null;
}

/** Creates an app from the hello fixture and deploys it by git push; returns the push's output. */
async function deployFixture(app: string) {
  const push = await (await createFixtureApp(owner, app)).push();
  return push.out + push.err;
}

async function ps(app = APP) {
  return JSON.parse(await owner.ok(["ps", "-a", app, "--json"])) as { replicas: PsReplica[] };
}

/** Asks one replica directly at its IP (the host reaches the app's bridge network, as the router does). */
async function ask(node: string, path: string): Promise<string> {
  const ip = node.slice(node.indexOf("@") + 1);
  const res = await fetch(`http://${ip}:4000${path}`, { signal: AbortSignal.timeout(3000) });
  return res.text();
}

async function nodesOf(node: string): Promise<string[]> {
  return (await ask(node, "/nodes")).split("\n").filter(Boolean);
}

/** The README's bound: replicas form one cluster within this long of the scale that started them, on a busy host too. */
const FORM_WITHIN_MS = 30_000;

/** Polls until every running replica of the app lists exactly the other ones (up to FORM_WITHIN_MS); returns them. */
async function cluster(app: string, size: number): Promise<string[]> {
  const deadline = Date.now() + FORM_WITHIN_MS;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const replicas = (await ps(app)).replicas.filter((r) => r.state === "running");
      const nodes = replicas.map((r) => r.node!).sort();
      if (nodes.length === size && nodes.every(Boolean)) {
        const views = await Promise.all(nodes.map(async (n) => ({ n, sees: await nodesOf(n) })));
        last = JSON.stringify(views);
        if (views.every(({ n, sees }) => JSON.stringify(sees) === JSON.stringify(nodes.filter((x) => x !== n)))) return nodes;
      } else last = `running: ${JSON.stringify(nodes)}`;
    } catch (err) {
      last = String(err);
    }
    await Bun.sleep(500);
  }
  throw new Error(`${app} did not form a cluster of ${size} within ${FORM_WITHIN_MS / 1000} s; last: ${last}\n${diagnoseCluster(app)}`);
}

beforeAll(async () => {
  daemon = await startDaemon();
  owner = new CliUser(daemon.url);
  await owner.ok(["signup", "--email", "cluster@example.com", "--socket", daemon.socket], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
  sshEnv = { BEAMSTALK_SSH_CONFIG: await sshConfigFor(owner) };
  const out = await deployFixture(APP);
  expect(out).toContain("web.1 is healthy");
}, LONG);

afterAll(() => tearDown(owner, daemon, APP, OTHER), LONG);

describe("clustering out of the box", () => {
  test("a replica's node is <app>@<its IP> with the app's cookie; <app>.internal resolves to the replicas", async () => {
    const [web1] = (await ps()).replicas;
    expect(web1!.node).toMatch(NODE);
    expect(await ask(web1!.node!, "/node")).toBe(web1!.node!);
    expect(await ask(web1!.node!, "/env/MY_NODE_NAME")).toBe(web1!.node!);
    expect(await ask(web1!.node!, "/env/RELEASE_DISTRIBUTION")).toBe("name");
    // rpc over SSH reaches the same node (the exec reads the name the boot script wrote).
    expect(await owner.ok(["ps:rpc", "-a", APP, "IO.puts(node())"], { env: sshEnv })).toBe(`${web1!.node}\n`);
    const ip = web1!.node!.split("@")[1];
    expect(await owner.ok(["ps:rpc", "-a", APP, `IO.puts(:inet_res.lookup(~c"${APP}.internal", :in, :a) |> Enum.map(&:inet.ntoa/1) |> Enum.join(","))`], { env: sshEnv })).toBe(`${ip}\n`);
  }, LONG);

  test("three replicas form one cluster", async () => {
    await owner.ok(["ps:scale", "-a", APP, "--replicas", "3"]);
    const nodes = await cluster(APP, 3);
    expect(nodes.every((n) => NODE.test(n))).toBe(true);
    expect(new Set(nodes).size).toBe(3);
  }, LONG);

  test("on a host held busy on every core, three replicas still form one cluster", async () => {
    await owner.ok(["ps:scale", "-a", APP, "--replicas", "1"]);
    const load = startCpuLoad({ perCore: 2, maxSeconds: 240 });
    try {
      const cpu0 = await busyCpuSeconds();
      const t0 = performance.now();
      await owner.ok(["ps:scale", "-a", APP, "--replicas", "3"]);
      const scaled = performance.now();
      const nodes = await cluster(APP, 3);
      const formed = performance.now();
      const busy = (await busyCpuSeconds()) - cpu0;
      const capacity = ((formed - t0) / 1000) * availableParallelism();
      console.log(`loaded host (${load.workers} busy processes, ${Math.round((busy / capacity) * 100)}% of the CPUs busy): ps:scale 1 -> 3 took ${((scaled - t0) / 1000).toFixed(1)} s; one cluster ${((formed - scaled) / 1000).toFixed(1)} s after it returned`);
      expect(nodes).toHaveLength(3);
      // The load really held the host: otherwise this test would prove nothing.
      expect(busy / capacity).toBeGreaterThan(0.9);
    } finally {
      await load.stop();
    }
  }, LONG);

  test("scaled to four, the new replica joins", async () => {
    const before = await cluster(APP, 3);
    await owner.ok(["ps:scale", "-a", APP, "--replicas", "4"]);
    const after = await cluster(APP, 4);
    for (const n of before) expect(after).toContain(n);
  }, LONG);

  test("a replica killed with docker kill is revived and rejoins; the rest heal", async () => {
    const victim = runningLabelled(`beamstalk.app=${APP}`, "beamstalk.index=2")[0] ?? "";
    expect(victim).not.toBe("");
    dockerOn(victim, "kill", victim);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const r = (await ps()).replicas.find((x) => x.name === "web.2");
      if (r?.state === "running" && r.restarts >= 1) break;
      await Bun.sleep(300);
    }
    const nodes = await cluster(APP, 4);
    expect(nodes).toHaveLength(4);
  }, LONG);

  test("ps shows each replica's node name and how many nodes it is connected to", async () => {
    const { replicas } = await ps();
    expect(replicas).toHaveLength(4);
    for (const r of replicas) {
      expect(r.node).toMatch(NODE);
      expect(r.connected_nodes).toHaveLength(3);
      expect(r.connected_nodes).not.toContain(r.node);
    }
    const table = await owner.ok(["ps", "-a", APP]);
    expect(table).toMatch(/REPLICA\s+RELEASE\s+STATE\s+UPTIME\s+RESTARTS\s+MEMORY\s+CPU\s+NODE\s+NODES\n/);
    for (const r of replicas) expect(table).toMatch(new RegExp(`${r.name.replace(".", "\\.")}\\s.*${r.node!.replaceAll(".", "\\.")}\\s+3\\n`));
  }, LONG);

  test("another app on the same host never sees the first app's nodes and cannot connect to them", async () => {
    await deployFixture(OTHER);
    const [other] = (await ps(OTHER)).replicas;
    expect(other!.node).toMatch(new RegExp(`^${OTHER}@\\d+\\.\\d+\\.\\d+\\.\\d+$`));
    expect(other!.connected_nodes).toEqual([]);
    const first = (await ps()).replicas.map((r) => r.node!);
    // Its cluster loop runs every second: give it a few rounds.
    await Bun.sleep(3000);
    expect(await nodesOf(other!.node!)).toEqual([]);
    for (const n of first) expect(await nodesOf(n)).not.toContain(other!.node!);
    // <app>.internal of the first app does not resolve on the other app's network...
    const lookup = await owner.ok(["ps:rpc", "-a", OTHER, `IO.inspect(:inet_res.lookup(~c"${APP}.internal", :in, :a))`], { env: sshEnv });
    expect(lookup).toBe("[]\n");
    // ...and told the first app's node by IP, Node.connect/1 fails (other network, other cookie).
    const connect = await owner.ok(["ps:rpc", "-a", OTHER, `IO.inspect(Node.connect(:"${first[0]}"))`], { env: sshEnv });
    expect(connect).toBe("false\n");
    const cookie = (app: string) => owner.ok(["ps:rpc", "-a", app, "IO.puts(Node.get_cookie())"], { env: sshEnv });
    expect(await cookie(APP)).not.toBe(await cookie(OTHER));
    expect((await ps(OTHER)).replicas[0]!.connected_nodes).toEqual([]);
    for (const r of (await ps()).replicas) expect(r.connected_nodes).toHaveLength(3);
  }, LONG);
});
