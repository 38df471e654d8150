import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { BINARY, CliUser, type RunningDaemon, startDaemon, tempDir } from "../support/daemon.ts";
import { createFixtureApp, removeAppContainers, tearDown } from "../support/fixture-app.ts";
import { underLoad } from "../support/load.ts";
import { containersLabelled } from "../support/target.ts";

/**
 * `beamstalk upgrade` from the built binary to a second build of it (another
 * version tag): a request loop and open WebSockets through the router, to an
 * app that echoes (test/fixtures/apps/wsecho), see no failure and no drop;
 * the replicas are the same containers; a binary that cannot start leaves the
 * old daemon serving.
 */
const APP = `upg-${Math.random().toString(36).slice(2, 8)}`;
const LONG = 6 * 60_000;
const SOCKETS = 20;
let daemon: RunningDaemon;
let owner: CliUser;
let next: string;
let successorPid = 0;

const host = `${APP}.apps.test`;
async function get(path: string) {
  const res = await fetch(daemon.url + path, { headers: { host }, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text() };
}

/** A WebSocket through the router, and what it received and how it closed. */
async function openSocket(i: number) {
  const ws = new WebSocket(`${daemon.url.replace("http:", "ws:")}/socket/${i}`, { headers: { host } } as never);
  const received: string[] = [];
  let closed: number | null = null;
  let wake = () => {};
  ws.onmessage = (e) => {
    received.push(String(e.data));
    wake();
  };
  ws.onclose = (e) => {
    closed = e.code;
    wake();
  };
  await new Promise((ok, fail) => ((ws.onopen = ok), (ws.onerror = fail)));
  return {
    get closed() {
      return closed;
    },
    /** Sends one message; resolves with its echo. */
    async echo(text: string): Promise<string> {
      const before = received.length;
      ws.send(text);
      const deadline = Date.now() + 5000;
      while (received.length === before && closed === null && Date.now() < deadline) await new Promise<void>((r) => ((wake = r), setTimeout(r, 100)));
      return received[before] ?? `(none; closed ${closed})`;
    },
    close: () => ws.close(1000),
  };
}

const version = async (socket: string) => JSON.parse(await owner.ok(["version", "--socket", socket, "--json"])) as { client: string; server: string };
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

beforeAll(async () => {
  // The second build: the same source, told apart by its version tag.
  next = join(tempDir("next"), "beamstalk");
  const built = Bun.spawnSync(["bun", "build.ts"], { cwd: resolve(import.meta.dir, "../.."), env: { ...process.env, BEAMSTALK_OUT: next, BEAMSTALK_BUILD_TAG: "next" }, stderr: "pipe" });
  expect(built.exitCode).toBe(0);
  daemon = await startDaemon();
  owner = new CliUser(daemon.url);
  await owner.ok(["signup", "--email", "upgrade@example.com", "--socket", daemon.socket], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
  const fixture = await createFixtureApp(owner, APP, "wsecho");
  const push = await fixture.push();
  expect(push.out + push.err).toContain("web.1 is healthy");
  await owner.ok(["ps:scale", "-a", APP, "--replicas", "2"]);
}, LONG);

afterAll(async () => {
  // Through whichever daemon serves now; the successor, which shares the old one's log pipe, stops before the harness reads it to the end.
  await owner?.run(["apps:destroy", "-a", APP, "--confirm", APP]);
  if (successorPid && alive(successorPid)) process.kill(successorPid, "SIGTERM");
  for (let i = 0; i < 100 && successorPid && alive(successorPid); i++) await Bun.sleep(100);
  await tearDown(owner, daemon);
  removeAppContainers(APP);
}, LONG);

describe("beamstalk upgrade", () => {
  test("a binary that cannot start, or a binary chosen over TCP, is refused, and the old daemon goes on serving", async () => {
    const broken = await owner.run(["upgrade", "--socket", daemon.socket, "--binary", "/bin/false"]);
    expect(broken.code).not.toBe(0);
    expect(broken.stderr).toContain("the new binary did not take over: it exited (code 1) before it was ready; this daemon keeps serving");
    const overTcp = await owner.run(["upgrade", "--binary", next]);
    expect(overTcp.code).not.toBe(0);
    expect(overTcp.stderr).toContain("only root on the server's host chooses the binary");
    expect((await version(daemon.socket)).server).toBe((await version(daemon.socket)).client);
    expect(daemon.proc.exitCode).toBeNull();
    expect(await get("/")).toMatchObject({ status: 200 });
  }, LONG);

  test(`across an upgrade to a second build: a request loop and ${SOCKETS} open WebSockets, 0 failed and 0 dropped; replicas untouched`, async () => {
    const replicas = containersLabelled(`beamstalk.app=${APP}`).sort();
    expect(replicas).toHaveLength(2);
    const sockets = await Promise.all(Array.from({ length: SOCKETS }, (_, i) => openSocket(i)));
    for (const [i, s] of sockets.entries()) expect(await s.echo(`before ${i}`)).toBe(`before ${i}`);
    const oldPid = daemon.proc.pid;
    const before = await version(daemon.socket);

    const started = Date.now();
    const { result, failures, ok } = await underLoad(
      () => get("/"),
      async () => {
        await Bun.sleep(500);
        const done = JSON.parse(await owner.ok(["upgrade", "--socket", daemon.socket, "--binary", next, "--drain-seconds", "120", "--json"])) as { from: string; to: string; pid: number };
        // The new daemon serves new connections while the old one still holds the WebSockets.
        await Bun.sleep(1500);
        return done;
      },
      { pauseMs: 10, maxMs: 3 * 60_000 },
    );
    successorPid = result.pid;
    console.log(`[upgrade] ${result.from} -> ${result.to} in ${((Date.now() - started) / 1000).toFixed(1)} s; ${ok} requests during it, ${failures.length} failed; ${SOCKETS} WebSockets open across it`);
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(50);
    expect(result).toMatchObject({ from: before.server, to: `${before.server}+next` });
    expect((await version(daemon.socket)).server).toBe(`${before.server}+next`);

    // Every WebSocket opened before the upgrade still echoes: the old daemon holds them until they end.
    for (const [i, s] of sockets.entries()) expect(await s.echo(`after ${i}`)).toBe(`after ${i}`);
    expect(sockets.every((s) => s.closed === null)).toBe(true);
    expect(alive(oldPid)).toBe(true);
    // Once the last one ends, the old daemon exits; the new one serves WebSockets of its own.
    for (const s of sockets) s.close();
    const exited = await Promise.race([daemon.proc.exited, Bun.sleep(15_000).then(() => "still running")]);
    expect(exited).toBe(0);
    const fresh = await openSocket(99);
    expect(await fresh.echo("to the new daemon")).toBe("to the new daemon");
    fresh.close();
    expect(await get("/")).toMatchObject({ status: 200 });
    expect(alive(successorPid)).toBe(true);
    expect(containersLabelled(`beamstalk.app=${APP}`).sort()).toEqual(replicas);
    expect(daemon.log()).toContain(`daemon.took_over from=${oldPid}`);
    // It supervises: a replica killed now is revived by the new daemon.
    Bun.spawnSync(["docker", "kill", replicas[0]!]);
    let revived = false;
    for (let i = 0; i < 60 && !revived; i++) {
      await Bun.sleep(500);
      const ps = JSON.parse(await owner.ok(["ps", "-a", APP, "--json"])) as { replicas: { state: string; restarts: number }[] };
      revived = ps.replicas.length === 2 && ps.replicas.every((r) => r.state === "running") && ps.replicas.some((r) => r.restarts >= 1);
    }
    expect(revived).toBe(true);
  }, LONG);
});
