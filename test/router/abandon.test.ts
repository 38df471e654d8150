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

/** One client connection, kept open across requests: what a browser's (or Bun fetch's) keep-alive does. */
async function keepAliveClient(port: number) {
  let received = Buffer.alloc(0);
  let wake = () => {};
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s, chunk) {
        received = Buffer.concat([received, chunk]);
        wake();
      },
    },
  });
  /** Sends a GET and resolves with its status once the whole answer (Content-Length) is in. */
  async function request(host: string, path: string): Promise<number> {
    received = Buffer.alloc(0);
    socket.write(`GET ${path} HTTP/1.1\r\nhost: ${host}\r\n\r\n`);
    for (;;) {
      const end = received.indexOf("\r\n\r\n");
      if (end >= 0) {
        const head = received.toString("latin1", 0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (received.length >= end + 4 + length) return Number(head.split(" ")[1]);
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  }
  return { request, close: () => socket.end() };
}

test("a request on a connection the front handed to the slow path (here: during maintenance) is cut by abandon() too", async () => {
  const r = startRouter();
  const dead = silentBackend();
  const alive = startUpstream("alive");
  r.router.setRoute("web", ["web.test"], [dead]);
  const client = await keepAliveClient(r.port);
  r.router.setMaintenance("web", true);
  // The maintenance page comes from the slow path; the connection stays piped there for its next requests.
  expect(await client.request("web.test", "/")).toBe(503);
  r.router.setMaintenance("web", false);
  const waiting = client.request("web.test", "/env/RELEASE_NODE");
  expect(await Promise.race([waiting.then(() => "answered"), Bun.sleep(300).then(() => "still waiting")])).toBe("still waiting");
  r.router.setRoute("web", ["web.test"], [alive.backend]);
  const cut = performance.now();
  r.router.abandon([dead]);
  expect(await waiting).toBe(502);
  expect(performance.now() - cut).toBeLessThan(1000);
  expect(r.logs.some((l) => l.includes("router.upstream_failed") && l.includes("its replica died"))).toBe(true);
  // The same connection goes on to the app's live backend.
  expect(await client.request("web.test", "/")).toBe(200);
  client.close();
  dead.stop();
});

test("a WebSocket proxied by the slow path to a backend that is abandoned gets its close (1011) at once", async () => {
  const r = startRouter({ slowPath: { backpressureLimit: 1024 * 1024 } });
  const upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, server) => (server.upgrade(req) ? undefined : new Response("no", { status: 400 })),
    websocket: { message() {} },
  });
  try {
    const backend = { host: "127.0.0.1", port: upstream.port! };
    r.router.setRoute("web", ["web.test"], [backend]);
    const ws = new WebSocket(r.url.replace("http:", "ws:") + "/socket", { headers: { host: "web.test" } } as never);
    await new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = reject)));
    const closed = new Promise<number>((resolve) => (ws.onclose = (event) => resolve(event.code)));
    const cut = performance.now();
    r.router.abandon([backend]);
    expect(await closed).toBe(1011);
    expect(performance.now() - cut).toBeLessThan(1000);
  } finally {
    upstream.stop(true);
  }
});
