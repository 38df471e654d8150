import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A real multi-host Docker Swarm on one machine. Each extra host is a network
 * namespace with its own dockerd (own data root, exec root, socket and
 * cgroup parent), cabled by a veth pair to a bridge in a "lan" namespace.
 * This machine's own engine, the one the controller uses, joins the lan the
 * same way and is the Swarm manager, as on a real controller host.
 *
 * Addresses are the test's own: the lan is 10.249.0.0/24 (controller .1,
 * hosts .11, .12, …), the hosts' local networks come from 10.247.0.0/16, the
 * overlays from 10.246.0.0/16. A route `unreachable 10.246.0.0/16` on this
 * machine makes an overlay address without a gateway route fail here
 * instead of leaving the machine. Everything is undone by stop().
 */

export const LAN_PREFIX = "10.249.0";
export const CONTROLLER_ADDR = `${LAN_PREFIX}.1`;
export const OVERLAY_POOL = "10.246.0.0/16";
const LAN_NS = "bstk-lan";

export interface SwarmHost {
  name: string;
  netns: string;
  address: string;
  socket: string;
  dockerdPid: number;
}

export interface SwarmHosts {
  hosts: SwarmHost[];
  /** Hosts with an engine on the lan that did not join the Swarm (to try joins with). */
  spares: SwarmHost[];
  /** The controller's (this machine's) engine socket, the Swarm manager. */
  managerSocket: string;
  /** Kills everything running in a host's namespace (its dockerd, containerd, shims, containers): the host dies. */
  killHost(name: string): void;
  /** Tears it all down; idempotent, also after a partial start. */
  stop(): Promise<void>;
}

/** Why this machine cannot run the harness, or null. */
export function cannotRunSwarm(): string | null {
  if (process.getuid?.() !== 0) return "needs root (network namespaces, dockerd)";
  for (const tool of ["ip", "dockerd", "docker", "nsenter", "unshare"]) {
    if (Bun.spawnSync(["which", tool]).exitCode !== 0) return `needs ${tool}`;
  }
  if (Bun.spawnSync(["docker", "info"]).exitCode !== 0) return "needs a running Docker engine";
  return null;
}

function run(argv: string[], options: { allowFail?: boolean; stdin?: Uint8Array; env?: Record<string, string> } = {}): string {
  const res = Bun.spawnSync(argv, { stdin: options.stdin ?? "ignore", ...(options.env ? { env: { ...process.env, ...options.env } } : {}) });
  if (res.exitCode !== 0 && !options.allowFail) throw new Error(`${argv.join(" ")} exited ${res.exitCode}: ${res.stderr.toString().trim()}`);
  return res.stdout.toString().trim();
}

const dockerAt = (socket: string, ...args: string[]) => ["docker", "-H", `unix://${socket}`, ...args];

export async function startSwarmHosts(options: { hosts: number; images: string[]; spares?: number }): Promise<SwarmHosts> {
  try {
    return await startSwarmHostsOnce(options);
  } catch (err) {
    if (!(err instanceof StaleGossipKeys) || process.env.BEAMSTALK_TEST_MAY_RESTART_DOCKERD !== "1") throw err;
    console.warn(`swarm-hosts: ${err.message}; restarting this machine's dockerd (BEAMSTALK_TEST_MAY_RESTART_DOCKERD=1) and starting over`);
    await restartDockerd();
    return startSwarmHostsOnce(options);
  }
}

/**
 * Docker 20.10's engine can keep the gossip keys of an earlier Swarm after a leave
 * and an init (moby/moby#30590, #41722: "memberlist: No installed keys could
 * decrypt the message"). Its network database then never hears the other hosts:
 * no overlay traffic crosses hosts, and every replica elsewhere fails its health
 * check. Only restarting that dockerd clears it. Seen once in a CI run, after
 * several Swarms on one engine; no trigger found.
 */
class StaleGossipKeys extends Error {}

/** Every host in the manager's view of the ingress network: their gossip reaches it. */
async function waitForGossip(hosts: number): Promise<void> {
  const peers = () => Number(run(["docker", "network", "inspect", "--verbose", "ingress", "--format", "{{len .Peers}}"], { allowFail: true }) || 0);
  try {
    await waitFor(() => peers() >= hosts + 1, 30_000, "every host's gossip reaching the manager");
  } catch {
    throw new StaleGossipKeys(`after 30 s the manager's network database sees ${peers()} of ${hosts + 1} hosts (the engine's stale Swarm gossip keys, moby/moby#30590)`);
  }
}

/** Stops this machine's dockerd by its pid file and starts it again as .ci/run does. */
async function restartDockerd(): Promise<void> {
  const pid = Number(readFileSync("/var/run/docker.pid", "utf8").trim());
  process.kill(pid, "SIGTERM");
  await waitFor(() => !existsSync(`/proc/${pid}`), 60_000, "dockerd to stop");
  const log = openSync(join(tmpdir(), "beamstalk-test-dockerd.log"), "a");
  // setsid -f: not a child of this test process (bun ends a test file's leftover children).
  Bun.spawnSync(["setsid", "-f", "dockerd"], { stdin: "ignore", stdout: log, stderr: log });
  closeSync(log);
  await waitFor(() => Bun.spawnSync(["docker", "info"]).exitCode === 0, 60_000, "dockerd to start again");
}

async function startSwarmHostsOnce(options: { hosts: number; images: string[]; spares?: number }): Promise<SwarmHosts> {
  const why = cannotRunSwarm();
  if (why) throw new Error(`cannot run a multi-host Swarm here: ${why}`);
  const swarmState = run(["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"]);
  if (swarmState !== "inactive") throw new Error(`this machine's engine is already in a Swarm (${swarmState}); the harness makes its own`);
  const dir = mkdtempSync(join(tmpdir(), "beamstalk-swarm-"));
  const hosts: SwarmHost[] = [];
  const spares: SwarmHost[] = [];
  const cleanups: (() => void)[] = [];
  const stop = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        fn();
      } catch {
        // keep tearing down the rest
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // The lan: a bridge in a namespace of its own, so this machine's firewall never sees bridged frames.
    run(["ip", "netns", "add", LAN_NS]);
    cleanups.push(() => run(["ip", "netns", "del", LAN_NS], { allowFail: true }));
    run(["ip", "-n", LAN_NS, "link", "set", "lo", "up"]);
    run(["ip", "-n", LAN_NS, "link", "add", "lan0", "type", "bridge"]);
    run(["ip", "-n", LAN_NS, "link", "set", "lan0", "up"]);
    // This machine on the lan.
    run(["ip", "link", "add", "bstk0", "type", "veth", "peer", "name", "c0", "netns", LAN_NS]);
    cleanups.push(() => run(["ip", "link", "del", "bstk0"], { allowFail: true }));
    run(["ip", "-n", LAN_NS, "link", "set", "c0", "master", "lan0", "up"]);
    run(["ip", "addr", "add", `${CONTROLLER_ADDR}/24`, "dev", "bstk0"]);
    run(["ip", "link", "set", "bstk0", "up"]);
    run(["ip", "route", "add", "unreachable", OVERLAY_POOL]);
    cleanups.push(() => run(["ip", "route", "del", "unreachable", OVERLAY_POOL], { allowFail: true }));
    const dns = await lanResolver();
    cleanups.push(() => dns.close());

    const image = join(dir, "images.tar");
    run(["docker", "save", "-o", image, ...options.images]);
    for (let i = 1; i <= options.hosts; i++) hosts.push(await startHost(i, dir, cleanups));
    for (const h of hosts) run(dockerAt(h.socket, "load", "-q", "-i", image));
    for (let i = 1; i <= (options.spares ?? 0); i++) spares.push(await startHost(options.hosts + i, dir, cleanups));

    run(["docker", "swarm", "init", "--advertise-addr", CONTROLLER_ADDR, "--listen-addr", `${CONTROLLER_ADDR}:2377`, "--default-addr-pool", OVERLAY_POOL, "--default-addr-pool-mask-length", "24"]);
    cleanups.push(() => run(["docker", "swarm", "leave", "--force"], { allowFail: true }));
    // Notice a dead host in seconds, not the default 5 s heartbeat times a grace.
    run(["docker", "swarm", "update", "--dispatcher-heartbeat", "2s", "--task-history-limit", "3"]);
    const token = run(["docker", "swarm", "join-token", "-q", "worker"]);
    for (const h of hosts) run(dockerAt(h.socket, "swarm", "join", "--token", token, `${CONTROLLER_ADDR}:2377`));
    await waitFor(() => run(["docker", "node", "ls", "--format", "{{.Status}}"]).split("\n").filter((s) => s === "Ready").length === options.hosts + 1, 60_000, "every host Ready in the Swarm");
    await waitForGossip(options.hosts);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    hosts,
    spares,
    managerSocket: "/var/run/docker.sock",
    killHost(name) {
      const i = hosts.findIndex((h) => h.name === name);
      if (i < 0) throw new Error(`no host ${name}`);
      // Off the lan first (its overlay endpoints would answer otherwise), then every process: engine and containers.
      run(["ip", "-n", LAN_NS, "link", "set", `bstk${i + 1}p`, "down"], { allowFail: true });
      killNamespace(hosts[i]!.netns);
      killCgroup(`bstk-${name}`);
    },
    stop,
  };
}

async function startHost(i: number, dir: string, cleanups: (() => void)[]): Promise<SwarmHost> {
  const name = `host${i}`;
  const netns = `bstk-h${i}`;
  const address = `${LAN_PREFIX}.${10 + i}`;
  const root = join(dir, name);
  run(["ip", "netns", "add", netns]);
  cleanups.push(() => {
    killNamespace(netns);
    killCgroup(`bstk-${name}`);
    run(["ip", "netns", "del", netns], { allowFail: true });
  });
  run(["ip", "-n", netns, "link", "set", "lo", "up"]);
  run(["ip", "link", "add", `bstk${i}p`, "netns", LAN_NS, "type", "veth", "peer", "name", "eth0", "netns", netns]);
  run(["ip", "-n", LAN_NS, "link", "set", `bstk${i}p`, "master", "lan0", "up"]);
  run(["ip", "-n", netns, "addr", "add", `${address}/24`, "dev", "eth0"]);
  run(["ip", "-n", netns, "link", "set", "eth0", "up"]);
  // No default route: a host reaches the lan and nothing else.
  // The host's own /run: its engine's socket is /var/run/docker.sock there, as on a real host,
  // so what mounts that path (the Beamstalk agent) reaches this host's engine, not this machine's.
  const ownRun = join(root, "run");
  mkdirSync(ownRun, { recursive: true });
  const socket = join(ownRun, "docker.sock");
  const pidfile = join(root, "dockerd.pid");
  // Private mount and UTS namespaces: dockerd's mounts stay its own, and the host has its own name
  // (what `docker node ls` and `beamstalk nodes` show). A fixed script; the values come as arguments.
  const proc = Bun.spawn(
    [
      "unshare", "--mount", "--uts", "--propagation", "private", "--",
      "bash", "-c", 'hostname "$1" && exec 3<"$2" && mount --bind "$3" /run && exec nsenter --net=/proc/self/fd/3 -- "${@:4}"', "swarm-host", name, `/run/netns/${netns}`, ownRun,
      "dockerd",
      "--data-root", join(root, "data"),
      "--exec-root", join(root, "exec"),
      "--pidfile", pidfile,
      "-H", "unix:///run/docker.sock",
      "--cgroup-parent", `bstk-${name}`,
      "--bip", `10.248.${i}.1/24`,
      "--default-address-pool", `base=10.247.${i * 16}.0/20,size=24`,
      "--dns", CONTROLLER_ADDR,
    ],
    { stdin: "ignore", stdout: Bun.file(join(root, "..", `${name}-dockerd.log`)), stderr: Bun.file(join(root, "..", `${name}-dockerd.err.log`)) },
  );
  await waitFor(() => existsSync(socket) && Bun.spawnSync(dockerAt(socket, "info")).exitCode === 0, 60_000, `dockerd of ${name}`, () => proc.exitCode !== null);
  return { name, netns, address, socket, dockerdPid: Number(readFileSync(pidfile, "utf8").trim()) };
}

/**
 * The lan's resolver, as every real network has one: the hosts' engines forward
 * names they do not know here (--dns), and it answers at once that it knows none
 * (REFUSED). Without an answer, each such lookup in a container waited ~20 s.
 */
async function lanResolver(): Promise<{ close(): void }> {
  const socket = await Bun.udpSocket({
    hostname: CONTROLLER_ADDR,
    port: 53,
    socket: {
      data(sock, query, port, address) {
        if (query.length < 12) return;
        const answer = Buffer.from(query);
        answer[2] = 0x80 | (query[2]! & 0x79); // QR=1, keep opcode and RD
        answer[3] = 0x05; // RCODE 5: refused
        answer.writeUInt16BE(0, 6); // no answers, authorities or additionals
        answer.writeUInt16BE(0, 8);
        answer.writeUInt16BE(0, 10);
        sock.send(answer, port, address);
      },
    },
  });
  return { close: () => socket.close() };
}

/** Every process in the namespace was started by this harness (a host's dockerd and what it ran). */
function killNamespace(netns: string): void {
  const pids = run(["ip", "netns", "pids", netns], { allowFail: true }).split("\n").filter(Boolean);
  for (const pid of pids) run(["kill", "-9", pid], { allowFail: true });
}

/** The host's containers run in its engine's cgroup parent, in network namespaces of their own. */
function killCgroup(parent: string): void {
  const top = join("/sys/fs/cgroup/pids", parent);
  if (!existsSync(top)) return;
  const dirs = [top, ...readdirSync(top, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(top, d.name))];
  for (const d of dirs) {
    for (const pid of readFileSync(join(d, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) run(["kill", "-9", pid], { allowFail: true });
  }
}

async function waitFor(ok: () => boolean, ms: number, what: string, failed: () => boolean = () => false): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (failed()) throw new Error(`${what}: the process exited`);
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s`);
    await Bun.sleep(250);
  }
}
