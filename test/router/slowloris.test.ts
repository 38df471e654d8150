import { afterEach, expect, test } from "bun:test";
import { rawConnection, startRouter, startUpstream, stopAll } from "./support.ts";

afterEach(stopAll);

/** Short bounds so the test runs in seconds; the daemon's are 20 s, 75 s and 64. */
const heads = { headTimeoutMs: 600, idleMs: 1_500, perAddress: 4 };

const within = (p: Promise<unknown>, ms: number) => Promise.race([p.then(() => true), Bun.sleep(ms).then(() => false)]);

test("a head sent a byte at a time, or never, gets a 408 and is closed once the bound has passed, not before", async () => {
  const r = startRouter({ heads });
  const silent = await rawConnection(r.port);
  const trickle = await rawConnection(r.port);
  trickle.write("GET / HTTP/1.1\r\nHost: web.test\r\n");
  const drip = setInterval(() => trickle.write("X"), 100);
  await Bun.sleep(400);
  expect(silent.isClosed).toBe(false);
  expect(trickle.isClosed).toBe(false);
  expect(await within(Promise.all([silent.closed, trickle.closed]), 2_000)).toBe(true);
  clearInterval(drip);
  for (const c of [silent, trickle]) expect(c.received).toStartWith("HTTP/1.1 408 ");
});

test("a keep-alive connection trickling its second head is cut too; an idle keep-alive one after idleMs", async () => {
  const r = startRouter({ heads });
  const up = startUpstream("web");
  r.router.setRoute("web", ["web.test"], [up.backend]);
  const second = await rawConnection(r.port);
  const idle = await rawConnection(r.port);
  for (const c of [second, idle]) c.write("GET /one HTTP/1.1\r\nHost: web.test\r\n\r\n");
  await Bun.sleep(200);
  for (const c of [second, idle]) expect(c.received).toStartWith("HTTP/1.1 200 ");
  second.write("GET /two HTTP/1.1\r\nHost: web.test\r\n");
  expect(await within(second.closed, 2_000)).toBe(true);
  expect(second.received).toContain("HTTP/1.1 408 ");
  expect(idle.isClosed).toBe(false);
  expect(await within(idle.closed, 2_500)).toBe(true);
  expect(idle.received).not.toContain("408");
});

test("more connections from one address than perAddress waiting for a head: the next gets 429; once one sends its head, a new one is let in", async () => {
  const r = startRouter({ heads: { ...heads, headTimeoutMs: 10_000 } });
  const up = startUpstream("web");
  r.router.setRoute("web", ["web.test"], [up.backend]);
  const waiting = await Promise.all([1, 2, 3, 4].map(() => rawConnection(r.port)));
  await Bun.sleep(100);
  const over = await rawConnection(r.port);
  expect(await within(over.closed, 1_000)).toBe(true);
  expect(over.received).toStartWith("HTTP/1.1 429 ");
  waiting[0]!.write("GET / HTTP/1.1\r\nHost: web.test\r\n\r\n");
  await Bun.sleep(200);
  expect(waiting[0]!.received).toStartWith("HTTP/1.1 200 ");
  const next = await rawConnection(r.port);
  next.write("GET / HTTP/1.1\r\nHost: web.test\r\n\r\n");
  await Bun.sleep(200);
  expect(next.received).toStartWith("HTTP/1.1 200 ");
  for (const c of waiting) expect(c.isClosed).toBe(false);
});

test("a long poll, a slow download and an open WebSocket live far past every bound", async () => {
  const r = startRouter({ heads });
  const up = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    fetch: async (req, server) => {
      const path = new URL(req.url).pathname;
      if (path === "/ws") return server.upgrade(req) ? undefined : new Response("no", { status: 400 });
      if (path === "/poll") {
        await Bun.sleep(2_500);
        return new Response("polled");
      }
      let n = 0;
      return new Response(
        new ReadableStream({
          async pull(c) {
            await Bun.sleep(250);
            if (n++ === 10) c.close();
            else c.enqueue(new TextEncoder().encode(`part ${n}\n`));
          },
        }),
      );
    },
    websocket: { message: (ws, m) => void ws.send(m) },
  });
  try {
    r.router.setRoute("web", ["web.test"], [{ host: "127.0.0.1", port: up.port! }]);
    const poll = fetch(`${r.url}/poll`, { headers: { host: "web.test" } }).then((res) => res.text());
    const download = fetch(`${r.url}/slow`, { headers: { host: "web.test" } }).then((res) => res.text());
    const ws = new WebSocket(`ws://127.0.0.1:${r.port}/ws`, { headers: { host: "web.test" } } as unknown as string[]);
    await new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = reject)));
    await Bun.sleep(2_600);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    const echoed = new Promise((resolve) => (ws.onmessage = (e) => resolve(e.data)));
    ws.send("still here");
    expect(await echoed).toBe("still here");
    ws.close();
    expect(await poll).toBe("polled");
    expect((await download).split("\n").filter(Boolean)).toHaveLength(10);
  } finally {
    up.stop(true);
  }
});
