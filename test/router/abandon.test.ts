import { afterEach, expect, test } from "bun:test";
import type { Backend } from "../../src/router/index.ts";
import { get, startRouter, startUpstream, stopAll } from "./support.ts";

afterEach(stopAll);

/**
 * A replica on another host that vanished answers nothing and resets nothing
 * (a killed Swarm task's address leads nowhere): this backend accepts
 * connections and never writes, as such a peer looks from the router.
 */
function silentBackend(): Backend & { stop(): void } {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  return { host: "127.0.0.1", port: listener.port, stop: () => listener.stop(true) };
}

test("abandon() cuts requests waiting on a dead backend: 502 at once; the app's other backend keeps answering", async () => {
  const r = startRouter();
  const dead = silentBackend();
  const alive = startUpstream("alive");
  r.router.setRoute("web", ["web.test"], [dead]);
  const waiting = Promise.all([get(r, "web.test", "/a"), get(r, "web.test", "/b")]);
  const raced = await Promise.race([waiting.then(() => "answered"), Bun.sleep(300).then(() => "still waiting")]);
  expect(raced).toBe("still waiting");
  // What the route keeper does when the supervisor sees the replica die: route without it, then abandon it.
  r.router.setRoute("web", ["web.test"], [alive.backend]);
  const cut = performance.now();
  r.router.abandon([dead]);
  const answers = await waiting;
  expect(answers.map((a) => a.status)).toEqual([502, 502]);
  expect(performance.now() - cut).toBeLessThan(1000);
  expect(((await (await get(r, "web.test")).json()) as { name: string }).name).toBe("alive");
  dead.stop();
});

test("an answer already streaming from a dead backend ends at once instead of hanging", async () => {
  const r = startRouter();
  let stall: () => void = () => {};
  const up = startUpstream("stuck", () => new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("first\n")); stall = () => c.close(); } })));
  r.router.setRoute("web", ["web.test"], [up.backend]);
  const res = await get(r, "web.test");
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toBe("first\n");
  const cut = performance.now();
  r.router.abandon([up.backend]);
  const ended = await reader.read().then(
    (chunk) => (chunk.done ? "ended" : "more"),
    () => "cut",
  );
  expect(["ended", "cut"]).toContain(ended);
  expect(performance.now() - cut).toBeLessThan(1000);
  stall();
});

test("abandoning a backend no route names, or one with nothing open, changes nothing", async () => {
  const r = startRouter();
  const up = startUpstream("web");
  r.router.setRoute("web", ["web.test"], [up.backend]);
  r.router.abandon([{ host: "127.0.0.1", port: 1 }]);
  expect((await get(r, "web.test")).status).toBe(200);
  r.router.abandon([up.backend]);
  // Its pooled idle connection was cut; the next request opens a fresh one.
  expect((await get(r, "web.test")).status).toBe(200);
});

test("a backend that answers no SYN gets its request a 502 after the connect timeout (5 s), not never", async () => {
  // A listening socket that never accepts, its queue filled: the kernel drops further SYNs, as a vanished peer's host would.
  const holder = Bun.spawn(["python3", "-c", "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)"], { stdout: "pipe" });
  try {
    const first = await holder.stdout.getReader().read();
    const port = Number(new TextDecoder().decode(first.value).trim());
    const fillers: { end(): void }[] = [];
    for (let i = 0; i < 3; i++) void Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then((f) => fillers.push(f), () => {});
    await Bun.sleep(300);
    const r = startRouter();
    r.router.setRoute("web", ["web.test"], [{ host: "127.0.0.1", port }]);
    const sent = performance.now();
    const res = await get(r, "web.test");
    const took = performance.now() - sent;
    expect(res.status).toBe(502);
    expect(took).toBeGreaterThan(4500);
    expect(took).toBeLessThan(9000);
    expect(r.logs.some((l) => l.includes("router.upstream_failed") && l.includes("ETIMEDOUT"))).toBe(true);
    for (const f of fillers) f.end();
  } finally {
    holder.kill();
  }
}, 20_000);
