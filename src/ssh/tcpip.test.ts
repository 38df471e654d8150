import { expect, test } from "bun:test";
import { type AddressInfo, type Server, type Socket, connect, createServer } from "node:net";
import { Duplex } from "node:stream";
import type { ServerChannel, TcpipRequestInfo } from "ssh2";
import type { Authorization, GitUser } from "../git/access.ts";
import { createMemoryLogger } from "../lib/logger.ts";
import type { Replica } from "../runner/types.ts";
import type { OpsOptions } from "./ops-channel.ts";
import { type ForwardOptions, handleForward } from "./tcpip.ts";
import { Tunnels } from "./tunnels.ts";

const owner: GitUser = { id: 1, email: "o@example.com" };
const replica = { id: "c1", app: "shop", state: "running", address: { host: "192.0.2.10", port: 4000 } } as Replica;

/** handleForward with fakes: the verdict, the replicas the runner lists; resolves with what happened. */
async function forward(options: { user?: GitUser | null; verdict?: Authorization; replicas?: Replica[]; host?: string; port?: number; session?: boolean }) {
  const logger = createMemoryLogger();
  const tunnels = new Tunnels();
  if (options.session !== false) tunnels.open({ app: "shop", replica: "web.1", replicaId: "c1", ip: "192.0.2.10" });
  let outcome = "pending";
  const info = { destIP: options.host ?? "web.1.shop", destPort: options.port ?? 4369, srcIP: "127.0.0.1", srcPort: 5555 } as TcpipRequestInfo;
  await handleForward(
    {
      logger,
      appExists: (app) => app === "shop",
      authorize: () => options.verdict ?? "ok",
      ops: { runner: { list: async () => options.replicas ?? [replica], exec: async () => { throw new Error("no exec"); } }, recordActivity() {} },
    },
    options.user === undefined ? owner : options.user,
    tunnels,
    info,
    () => {
      outcome = "accepted";
      throw new Error("not expected");
    },
    () => void (outcome = "refused"),
  );
  return { outcome, log: logger.lines.join("\n") };
}

test("refused: no user, no session, a viewer, a port or host outside the session, a replica gone or moved", async () => {
  expect(await forward({ user: null })).toMatchObject({ outcome: "refused", log: expect.stringContaining("not authenticated") });
  expect(await forward({ session: false })).toMatchObject({ outcome: "refused", log: expect.stringContaining("no observer session on this connection holds web.1.shop") });
  expect(await forward({ verdict: "forbidden" })).toMatchObject({ outcome: "refused", log: expect.stringContaining("no write access") });
  expect(await forward({ verdict: "not_found" })).toMatchObject({ outcome: "refused" });
  expect(await forward({ port: 22 })).toMatchObject({ outcome: "refused", log: expect.stringContaining("port 22 is not forwarded") });
  expect(await forward({ host: "192.0.2.10" })).toMatchObject({ outcome: "refused", log: expect.stringContaining("not a replica") });
  expect(await forward({ host: "web.2.shop" })).toMatchObject({ outcome: "refused" });
  expect(await forward({ replicas: [] })).toMatchObject({ outcome: "refused", log: expect.stringContaining("web.1 of shop is no longer running") });
  expect(await forward({ replicas: [{ ...replica, state: "exited" }] })).toMatchObject({ outcome: "refused" });
  expect(await forward({ replicas: [{ ...replica, address: { host: "192.0.2.99", port: 4000 } }] })).toMatchObject({ outcome: "refused" });
});

test("a hostile destination host is logged bounded and quoted", async () => {
  const { outcome, log } = await forward({ host: `x\ny=1 ${"a".repeat(500)}` });
  expect(outcome).toBe("refused");
  expect(log.split("\n")).toHaveLength(1);
  expect(log).not.toContain("a".repeat(129));
});

/** What the SSH client's end of a direct-tcpip channel looks like to handleForward: a Duplex with close(). */
class FakeChannel extends Duplex {
  readonly received: Buffer[] = [];
  closedByServer = false;
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.received.push(Buffer.from(chunk));
    this.emit("received");
    done();
  }
  close(): void {
    this.closedByServer = true;
    this.destroy();
  }
  text(): string {
    return Buffer.concat(this.received).toString("utf8");
  }
}

/** Resolves once check() holds, polling; fails after two seconds. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

/** Options of a forward the user may make to the tunnel's replica (web.1 of shop), with the runner's parts given. */
function allowed(logger: ReturnType<typeof createMemoryLogger>, runner: Partial<OpsOptions["runner"]>): ForwardOptions {
  const base: OpsOptions["runner"] = { list: async () => [replica], exec: async () => { throw new Error("no exec"); } };
  return { logger, appExists: (app) => app === "shop", authorize: () => "ok", ops: { runner: { ...base, ...runner }, recordActivity() {} } };
}

/**
 * An open forward to a local listener standing in for the replica's EPMD: the
 * tunnel's replica is at 127.0.0.1, and the dial the daemon makes there (port
 * 4369, fixed) is pointed at the listener's port instead.
 */
async function openForward() {
  const peers: Socket[] = [];
  const listener: Server = createServer((s) => peers.push(s));
  await new Promise<void>((done) => listener.listen(0, "127.0.0.1", done));
  const port = (listener.address() as AddressInfo).port;
  const logger = createMemoryLogger();
  const tunnels = new Tunnels();
  const tunnel = { app: "shop", replica: "web.1", replicaId: "c1", ip: "127.0.0.1" };
  const closeSession = tunnels.open(tunnel);
  const untracked: unknown[] = [];
  const untrack = tunnels.untrack.bind(tunnels);
  tunnels.untrack = (t, socket) => {
    untracked.push(t);
    untrack(t, socket);
  };
  const dials: { host: string; port: number }[] = [];
  let channel: FakeChannel | null = null;
  let refused = false;
  await handleForward(
    {
      ...allowed(logger, { list: async () => [{ ...replica, address: { host: "127.0.0.1", port: 4000 } }] }),
      connect: (host, destPort) => {
        dials.push({ host, port: destPort });
        return connect({ host, port });
      },
    },
    owner,
    tunnels,
    { destIP: "web.1.shop", destPort: 4369, srcIP: "127.0.0.1", srcPort: 5555 } as TcpipRequestInfo,
    () => (channel = new FakeChannel()) as unknown as ServerChannel,
    () => void (refused = true),
  );
  await until(() => channel !== null && peers.length === 1, "the forward to open");
  expect(refused).toBe(false);
  expect(dials).toEqual([{ host: "127.0.0.1", port: 4369 }]);
  expect(logger.lines.join("\n")).toContain("ssh.forward.open");
  const peer = peers[0]!;
  const peerReceived: Buffer[] = [];
  peer.on("data", (chunk: Buffer) => peerReceived.push(chunk));
  let peerClosed = false;
  peer.once("close", () => void (peerClosed = true));
  return {
    channel: channel! as FakeChannel,
    peer,
    peerText: () => Buffer.concat(peerReceived).toString("utf8"),
    peerClosed: () => peerClosed,
    untracked,
    tunnel,
    closeSession,
    done: () => new Promise<void>((done) => listener.close(() => done())),
  };
}

test("an allowed forward connects to the replica and copies bytes both ways; the replica closing closes the channel", async () => {
  const f = await openForward();
  f.channel.push("ping from the client");
  await until(() => f.peerText() === "ping from the client", "the client's bytes at the replica");
  f.peer.write("pong from the node");
  await until(() => f.channel.text() === "pong from the node", "the replica's bytes on the channel");
  expect(f.untracked).toEqual([]);

  f.peer.end();
  await until(() => f.channel.closedByServer, "the channel to close");
  expect(f.untracked).toEqual([f.tunnel]);
  await until(f.peerClosed, "the replica's end to close");
  expect(f.closeSession()).toBe(1); // the forward was counted, and nothing live is left to destroy
  await f.done();
});

test("the client closing its channel closes the connection to the replica", async () => {
  const f = await openForward();
  f.channel.push("hello");
  await until(() => f.peerText() === "hello", "the client's bytes at the replica");
  f.channel.destroy();
  await until(f.peerClosed, "the replica's end to close");
  await until(() => f.untracked.length === 1, "the forward to be untracked");
  expect(f.untracked).toEqual([f.tunnel]);
  await f.done();
});

test("closing the observer session destroys its live forwards", async () => {
  const f = await openForward();
  expect(f.closeSession()).toBe(1);
  await until(f.peerClosed, "the replica's end to close");
  await until(() => f.channel.closedByServer, "the channel to close");
  expect(f.untracked).toEqual([f.tunnel]);
  await f.done();
});

test("a runner that connects to replicas itself (Kubernetes port-forward) is used instead of a dial; its failure refuses the forward", async () => {
  const peers: Socket[] = [];
  const listener: Server = createServer((s) => peers.push(s));
  await new Promise<void>((done) => listener.listen(0, "127.0.0.1", done));
  const port = (listener.address() as AddressInfo).port;
  const tunnels = new Tunnels();
  tunnels.open({ app: "shop", replica: "web.1", replicaId: "c1", ip: "192.0.2.10" });
  const asked: string[] = [];
  const run = async (connectTo: (id: string, p: number) => Promise<Duplex>) => {
    const logger = createMemoryLogger();
    let channel: FakeChannel | null = null;
    let refused = false;
    await handleForward(
      { ...allowed(logger, { connect: connectTo }), connectTimeoutMs: 300 },
      owner,
      tunnels,
      { destIP: "web.1.shop", destPort: 9100, srcIP: "127.0.0.1", srcPort: 5555 } as TcpipRequestInfo,
      () => (channel = new FakeChannel()) as unknown as ServerChannel,
      () => void (refused = true),
    );
    return { channel: () => channel, refused: () => refused, log: () => logger.lines.join("\n") };
  };

  const ok = await run(async (id, p) => {
    asked.push(`${id}:${p}`);
    const socket = connect({ host: "127.0.0.1", port });
    await new Promise((done) => socket.once("connect", done));
    return socket;
  });
  await until(() => ok.channel() !== null && peers.length === 1, "the forward to open");
  expect(asked).toEqual(["c1:9100"]);
  ok.channel()!.push("through the API");
  const got: Buffer[] = [];
  peers[0]!.on("data", (c: Buffer) => got.push(c));
  await until(() => Buffer.concat(got).toString() === "through the API", "the bytes at the replica");
  peers[0]!.end();
  await until(() => ok.channel()!.closedByServer, "the channel to close");

  const failed = await run(async () => {
    throw new Error("pods \"web-1\" is forbidden: cannot create pods/portforward");
  });
  expect(failed.refused()).toBe(true);
  expect(failed.log()).toContain("the replica did not accept the connection: pods");

  const slow = await run(() => new Promise(() => {}));
  expect(slow.refused()).toBe(true);
  expect(slow.log()).toContain("connect timed out");
  await new Promise<void>((done) => listener.close(() => done()));
});
