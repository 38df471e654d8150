import { CONTROLLER_ADDR, OVERLAY_POOL, type SwarmHosts, startSwarmHosts } from "./swarm-hosts.ts";

/**
 * Which runner the end-to-end suites drive. By default Docker on this host. A
 * run with `--preload ./test/support/on-swarm.ts` (the swarm tier) drives a
 * real Swarm instead: this machine's engine as manager and two more hosts in
 * network namespaces (swarm-hosts.ts), started once for the run by the first
 * daemon and torn down after the last file. startDaemon() then runs the server
 * with --runner swarm, and the helpers here find a replica's container on
 * whichever host's engine runs it.
 */
let runner: "docker" | "swarm" = "docker";
export const testRunner = () => runner;
export function useSwarm(): void {
  runner = "swarm";
}

const LOCAL_SOCKET = "/var/run/docker.sock";
let swarm: SwarmHosts | undefined;
let starting: Promise<SwarmHosts> | undefined;

/**
 * The Swarm this run's suites share (started on first use). Every host takes
 * replicas, the controller too: it cannot be drained, since Swarm lets no
 * container on a drained host join an overlay (the router's gateway, jobs and
 * databases do). Swarm spreads an app's replicas, so each suite's second
 * replica runs on another host than its first.
 */
export function sharedSwarm(): Promise<SwarmHosts> {
  starting ??= startSwarmHosts({ hosts: 2, images: ["beamstalk/run:bookworm"] }).then((s) => (swarm = s));
  return starting;
}

export async function stopSharedSwarm(): Promise<void> {
  const s = await starting?.catch(() => undefined);
  if (s) tearDownSwarm(s);
  swarm = starting = undefined;
}

/** What a Swarm test leaves on this machine besides the harness: the router's gateway and its route into the overlays. */
export function tearDownSwarm(s: SwarmHosts): void {
  Bun.spawnSync(["docker", "rm", "-f", "beamstalk-gateway"], { stdout: "ignore", stderr: "ignore" });
  void s.stop();
  Bun.spawnSync(["docker", "network", "rm", "beamstalk-gateway"], { stdout: "ignore", stderr: "ignore" });
  Bun.spawnSync(["ip", "route", "flush", "root", OVERLAY_POOL], { stdout: "ignore", stderr: "ignore" });
}

/** Server flags and listen address for a daemon on the shared Swarm, on a port that stays the same across restarts of one data directory. */
export async function swarmDaemonOptions(dataDir: string, httpPort: number | undefined): Promise<{ port: number; bind: string; args: string[] }> {
  await sharedSwarm();
  const port = httpPort || (ports.get(dataDir) ?? freePort());
  ports.set(dataDir, port);
  // Replicas on other hosts fetch their slugs here: the controller's lan address, not loopback.
  return { port, bind: "0.0.0.0", args: ["--runner", "swarm", "--controller-url", `http://${CONTROLLER_ADDR}:${port}`] };
}
const ports = new Map<string, number>();

export function freePort(): number {
  const server = Bun.listen({ hostname: "0.0.0.0", port: 0, socket: { data() {} } });
  const { port } = server;
  server.stop(true);
  return port;
}

/** The engines a replica's container may be on: this machine's, and each Swarm host's. */
export function engineSockets(): string[] {
  return [LOCAL_SOCKET, ...(swarm?.hosts.map((h) => h.socket) ?? [])];
}

const where = new Map<string, string>();

/** Container ids with every label given (e.g. `beamstalk.app=web`), running or not, on every engine. */
export function containersLabelled(...labels: string[]): string[] {
  return listContainers(true, labels);
}

/** Running container ids with every label given, on every engine. */
export function runningLabelled(...labels: string[]): string[] {
  return listContainers(false, labels);
}

function listContainers(all: boolean, labels: string[]): string[] {
  const ids: string[] = [];
  for (const socket of engineSockets()) {
    const res = Bun.spawnSync(["docker", "-H", `unix://${socket}`, "ps", "-q", ...(all ? ["-a"] : []), ...labels.flatMap((l) => ["--filter", `label=${l}`])]);
    for (const id of res.stdout.toString().split("\n").filter(Boolean)) {
      where.set(id, socket);
      ids.push(id);
    }
  }
  return ids;
}

/** `docker <args>` on the engine that holds the container (found by an earlier listing); argv, never a shell. */
export function dockerOn(id: string, ...args: string[]): { code: number; stdout: string; stderr: string } {
  const socket = where.get(id) ?? LOCAL_SOCKET;
  const res = Bun.spawnSync(["docker", "-H", `unix://${socket}`, ...args]);
  return { code: res.exitCode, stdout: res.stdout.toString().trim(), stderr: res.stderr.toString().trim() };
}
