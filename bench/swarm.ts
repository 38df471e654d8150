/**
 * Swarm benchmark: `bun bench/swarm.ts` (root; Docker, the stack images, `ip netns`).
 * In one run, on this machine: the compiled daemon with --runner docker, then with
 * --runner swarm on a 3-host Swarm (test/support/swarm-hosts.ts). For each: the
 * time from `git push` until the router serves the app, the buildpack time it
 * reports, the overhead (the difference), and `ps:scale` 1 → 3. Then, on Swarm, the
 * time from a host's death until every replica runs on the other hosts and the
 * router answers from them. Anchor: the Docker runner; goal Swarm overhead ≤ 1.5×.
 * Not part of the tests.
 */
import { CliUser, type RunningDaemon, startDaemon } from "../test/support/daemon.ts";
import { createFixtureApp } from "../test/support/fixture-app.ts";
import { CONTROLLER_ADDR, startSwarmHosts } from "../test/support/swarm-hosts.ts";

interface Row {
  runner: string;
  pushToServingMs: number;
  buildMs: number;
  scaleMs: number;
}

async function servingAfter(daemon: RunningDaemon, app: string, started: number): Promise<number> {
  for (;;) {
    const res = await fetch(daemon.url + "/", { headers: { host: `${app}.apps.test` } }).catch(() => null);
    if (res?.status === 200) return performance.now() - started;
    await Bun.sleep(20);
  }
}

async function measure(runner: "docker" | "swarm", args: string[], bind?: string, port?: number): Promise<{ row: Row; daemon: RunningDaemon; owner: CliUser; app: string }> {
  const daemon = await startDaemon({ args: ["--runner", runner, ...args], ...(bind ? { bind } : {}), ...(port ? { httpPort: port } : {}) });
  const owner = new CliUser(daemon.url);
  await owner.ok(["signup", "--email", "bench@example.com", "--socket", daemon.socket], { env: { BEAMSTALK_PASSWORD: "bench password" } });
  const app = `bsw-${runner}-${Math.random().toString(36).slice(2, 6)}`;
  const fixture = await createFixtureApp(owner, app);
  const t0 = performance.now();
  const push = await fixture.push();
  const pushToServingMs = await servingAfter(daemon, app, t0);
  const buildMs = Number(/built in ([\d.]+) s/.exec(push.out + push.err)?.[1] ?? "0") * 1000;
  const s0 = performance.now();
  await owner.ok(["ps:scale", "-a", app, "--replicas", "3"]);
  return { row: { runner, pushToServingMs, buildMs, scaleMs: performance.now() - s0 }, daemon, owner, app };
}

const fmt = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const rows: Row[] = [];
const docker = await measure("docker", []);
rows.push(docker.row);
await docker.owner.run(["apps:destroy", "-a", docker.app, "--confirm", docker.app]);
await docker.daemon.stop();

const cluster = await startSwarmHosts({ hosts: 2, images: ["beamstalk/run:bookworm"] });
try {
  const probe = Bun.listen({ hostname: "0.0.0.0", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  const swarm = await measure("swarm", ["--controller-url", `http://${CONTROLLER_ADDR}:${port}`], "0.0.0.0", port);
  rows.push(swarm.row);
  const hosts = JSON.parse(await swarm.owner.ok(["nodes", "--json"])) as { address: string; replicas: number }[];
  const victim = cluster.hosts.find((h) => hosts.some((x) => x.address === h.address && x.replicas > 0))!;
  const k0 = performance.now();
  cluster.killHost(victim.name);
  let movedMs = 0;
  for (;;) {
    const ps = JSON.parse(await swarm.owner.ok(["ps", "-a", swarm.app, "--json"])) as { replicas: { state: string }[] };
    const live = JSON.parse(await swarm.owner.ok(["nodes", "--json"])) as { address: string; state: string; replicas: number }[];
    const onDead = live.find((h) => h.address === victim.address)?.replicas ?? 0;
    if (ps.replicas.filter((r) => r.state === "running").length === 3 && onDead === 0) {
      movedMs = performance.now() - k0;
      break;
    }
    if (performance.now() - k0 > 180_000) throw new Error("replicas did not move within 180 s");
    await Bun.sleep(250);
  }
  await swarm.owner.run(["apps:destroy", "-a", swarm.app, "--confirm", swarm.app]);
  await swarm.daemon.stop();
  const [d, s] = rows as [Row, Row];
  console.log("runner | push → serving | buildpack | overhead | ps:scale 1 → 3");
  for (const r of rows) console.log(`${r.runner} | ${fmt(r.pushToServingMs)} | ${fmt(r.buildMs)} | ${fmt(r.pushToServingMs - r.buildMs)} | ${fmt(r.scaleMs)}`);
  console.log(`swarm / docker: overhead ${((s.pushToServingMs - s.buildMs) / (d.pushToServingMs - d.buildMs)).toFixed(2)}×, scale ${(s.scaleMs / d.scaleMs).toFixed(2)}× (goal ≤ 1.5×)`);
  console.log(`host killed → its replicas running on the other hosts: ${fmt(movedMs)}`);
} finally {
  await cluster.stop();
  Bun.spawnSync(["docker", "rm", "-f", "beamstalk-gateway"]);
  Bun.spawnSync(["docker", "network", "rm", "beamstalk-gateway"]);
  Bun.spawnSync(["ip", "route", "flush", "root", "10.246.0.0/16"]);
}
