/**
 * The socket-level front (src/router/front.ts) over raw sockets: what
 * fetch() cannot send or would hide (pipelining, smuggling attempts, HTTP/1.0,
 * bodies framed both ways, 100-continue, the slow path's view of the client).
 */
import { afterEach, expect, test } from "bun:test";
import type { Socket, SocketHandler } from "bun";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import { createRouter, type Router, type RouterListener } from "../../src/router/index.ts";
import { startRouter, startUpstream, stopAll } from "./support.ts";

afterEach(stopAll);
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0)) await f();
});

/** Opens a raw connection; `sent` writes, `until` waits for a received text matching, `closed` for the end. */
async function raw(port: number) {
  let text = "";
  let waiters: (() => void)[] = [];
  const closed = Promise.withResolvers<void>();
  const socket: Socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s, chunk) {
        text += chunk.toString("latin1");
        for (const w of waiters.splice(0)) w();
      },
      close: () => {
        closed.resolve();
        for (const w of waiters.splice(0)) w();
      },
      error: () => closed.resolve(),
    },
  });
  cleanup.push(() => socket.end());
  let ended = false;
  void closed.promise.then(() => (ended = true));
  return {
    socket,
    send: (s: string | Uint8Array) => socket.write(s),
    get text() {
      return text;
    },
    async until(test: (text: string) => boolean, ms = 3000): Promise<string> {
      const deadline = Date.now() + ms;
      while (!test(text)) {
        if (ended || Date.now() > deadline) throw new Error(`gave up waiting; received: ${JSON.stringify(text)}`);
        await Promise.race([new Promise<void>((r) => waiters.push(r)), Bun.sleep(50)]);
      }
      return text;
    },
    closed: closed.promise,
  };
}

const count = (text: string, what: string) => text.split(what).length - 1;

/** An app that speaks raw TCP (each test writes its bytes by hand) behind web.test; stopped after the test. */
function rawApp<T = undefined>(router: Router, socket: SocketHandler<T>): void {
  const app = Bun.listen<T>({ hostname: "127.0.0.1", port: 0, socket });
  cleanup.push(() => app.stop(true));
  router.setRoute("web", ["web.test"], [{ host: "127.0.0.1", port: app.port }]);
}

test("pipelined requests on one connection are answered in order", async () => {
  const r = startRouter();
  const up = startUpstream("web", (req) => new Response(new URL(req.url).pathname));
  r.router.setRoute("web", ["web.test"], [up.backend]);
  const c = await raw(r.port);
  c.send("GET /one HTTP/1.1\r\nHost: web.test\r\n\r\nGET /two HTTP/1.1\r\nHost: web.test\r\n\r\nGET /three HTTP/1.1\r\nHost: web.test\r\n\r\n");
  const text = await c.until((t) => t.includes("/three"));
  expect(count(text, "HTTP/1.1 200")).toBe(3);
  expect(text.indexOf("/one")).toBeLessThan(text.indexOf("/two"));
  expect(text.indexOf("/two")).toBeLessThan(text.indexOf("/three"));
});

test("a chunked request body reaches the app byte for byte (extensions, trailers), and a chunked answer comes back whole", async () => {
  const r = startRouter();
  const body = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
  let received = "";
  rawApp(r.router, {
    data(s, chunk) {
      received += chunk.toString("latin1");
      if (!received.endsWith("X-Trailer: t\r\n\r\n")) return;
      s.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ngot \r\n");
      setTimeout(() => s.write("b\r\nhello world\r\n0\r\n\r\n"), 20);
      received += "<answered>";
    },
  });
  const c = await raw(r.port);
  c.send("POST /u HTTP/1.1\r\nHost: web.test\r\nTransfer-Encoding: chunked\r\n\r\n" + body.slice(0, 12));
  await Bun.sleep(50);
  c.send(body.slice(12));
  const text = await c.until((t) => t.endsWith("0\r\n\r\n"));
  expect(text).toStartWith("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  expect(text).toEndWith("4\r\ngot \r\nb\r\nhello world\r\n0\r\n\r\n");
  expect(received.slice(received.indexOf("\r\n\r\n") + 4)).toBe(body + "<answered>");
  // the connection is still usable, and the app's connection was reused
  c.send("POST /u HTTP/1.1\r\nHost: web.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: t\r\n\r\n");
  await c.until((t) => count(t, "HTTP/1.1 200") === 2 && t.endsWith("0\r\n\r\n"));
});

test("smuggling attempts get a 400 and a closed connection; the app never sees them", async () => {
  const r = startRouter();
  let seen = 0;
  const up = startUpstream("web", () => (seen++, new Response("ok")));
  r.router.setRoute("web", ["web.test"], [up.backend]);
  for (const attempt of [
    "POST / HTTP/1.1\r\nHost: web.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: web.test\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: web.test\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd",
    "POST / HTTP/1.1\r\nHost: web.test\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: web.test\r\nX: a\nContent-Length: 5\r\n\r\nhello",
    "GET / HTTP/1.1\r\nHost: web.test\r\nHost: other.test\r\n\r\n",
  ]) {
    const c = await raw(r.port);
    c.send(attempt);
    await c.closed;
    expect(c.text).toMatch(/^HTTP\/1\.1 (400|501) /);
    expect(c.text.toLowerCase()).toContain("connection: close");
  }
  // a chunk that lies about its size, after the head was accepted: the connection is cut
  const c = await raw(r.port);
  c.send("POST / HTTP/1.1\r\nHost: web.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  await c.closed;
  expect(seen).toBe(0);
  expect(r.logs.some((l) => l.includes("router.bad_request_body"))).toBe(true);
});

test("a request head over 64 KiB gets a 431", async () => {
  const r = startRouter();
  const up = startUpstream("web");
  r.router.setRoute("web", ["web.test"], [up.backend]);
  const c = await raw(r.port);
  c.send(`GET / HTTP/1.1\r\nHost: web.test\r\nX-Big: ${"x".repeat(70 * 1024)}\r\n\r\n`);
  await c.closed;
  expect(c.text).toStartWith("HTTP/1.1 431 ");
});

test("HTTP/1.0 goes the slow way and is answered; the slow path sees the real client address", async () => {
  const logger = createMemoryLogger();
  const router = createRouter({
    logger,
    fallback: (req, server) => Response.json({ ip: server.requestIP(req), port: server.port }),
  });
  const listener: RouterListener = router.listen({ hostname: "127.0.0.1", port: 0 });
  cleanup.push(() => listener.stop(true));
  const up = startUpstream("web", () => new Response("from the app"));
  router.setRoute("web", ["web.test"], [up.backend]);

  const old = await raw(listener.port);
  old.send("GET / HTTP/1.0\r\nHost: web.test\r\n\r\n");
  await old.closed;
  expect(old.text).toStartWith("HTTP/1.1 200");
  expect(old.text).toEndWith("from the app");

  const api = await raw(listener.port);
  api.send("GET /v1/whoami HTTP/1.1\r\nHost: controller.test\r\n\r\n");
  const text = await api.until((t) => t.includes("}"));
  const seen = JSON.parse(text.slice(text.indexOf("{")));
  expect(seen.ip.address).toBe("127.0.0.1");
  expect(seen.ip.port).toBe(api.socket.localPort); // the client's own port, not the pipe's
  expect(seen.port).toBe(listener.port);
});

test("bypass sends a request for an app's host to the slow path, where `before` answers it", async () => {
  const router = createRouter({ logger: createMemoryLogger(), fallback: () => new Response("fallback") });
  const listener = router.listen({
    hostname: "127.0.0.1",
    port: 0,
    before: (req) => (new URL(req.url).pathname.startsWith("/.well-known/") ? new Response("challenge answer") : null),
    bypass: (_host, target) => target.startsWith("/.well-known/"),
  });
  cleanup.push(() => listener.stop(true));
  const up = startUpstream("web", () => new Response("from the app"));
  router.setRoute("web", ["web.test"], [up.backend]);
  const base = `http://127.0.0.1:${listener.port}`;
  expect(await (await fetch(`${base}/.well-known/acme-challenge/t`, { headers: { host: "web.test" } })).text()).toBe("challenge answer");
  expect(await (await fetch(`${base}/page`, { headers: { host: "web.test" } })).text()).toBe("from the app");
});

test("an answer without a length is read until the app closes, and the client connection closes after it", async () => {
  const r = startRouter();
  rawApp(r.router, {
    data(s) {
      s.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart one, ");
      setTimeout(() => s.end("part two"), 50);
    },
  });
  const c = await raw(r.port);
  c.send("GET / HTTP/1.1\r\nHost: web.test\r\n\r\n");
  await c.closed;
  expect(c.text.toLowerCase()).toContain("connection: close");
  expect(c.text).toEndWith("part one, part two");
});

test("Expect: 100-continue: the app's 100 reaches the client before it sends the body", async () => {
  const r = startRouter();
  const up = startUpstream("web", async (req) => new Response(`got ${(await req.text()).length}`));
  r.router.setRoute("web", ["web.test"], [up.backend]);
  const c = await raw(r.port);
  c.send("POST / HTTP/1.1\r\nHost: web.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  await c.until((t) => t.startsWith("HTTP/1.1 100"));
  c.send("hello");
  await c.until((t) => t.includes("got 5"));
  expect(count(c.text, "HTTP/1.1 200")).toBe(1);
});

test("an app that closes its keep-alive connections after each answer: every request still succeeds", async () => {
  const r = startRouter();
  let connections = 0;
  rawApp(r.router, {
    open: () => void connections++,
    data(s) {
      // announces keep-alive, then closes a moment later anyway
      s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      setTimeout(() => s.end(), 5);
    },
  });
  for (let i = 0; i < 5; i++) {
    const res = await fetch(`${r.url}/`, { headers: { host: "web.test" } });
    expect([res.status, await res.text()]).toEqual([200, "ok"]);
    await Bun.sleep(i % 2 === 0 ? 20 : 0);
  }
  expect(connections).toBeGreaterThanOrEqual(3);
  expect(r.logs).toEqual([]);
});

test("an answer before the request body is done (a 413): the client gets it and the connection closes; the app connection is not reused", async () => {
  const r = startRouter();
  let connections = 0;
  rawApp(r.router, {
    open: () => void connections++,
    data(s, chunk) {
      if (chunk.toString("latin1").startsWith("POST")) s.write("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n\r\ntoo big!");
      else s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    },
  });
  const c = await raw(r.port);
  c.send("POST /upload HTTP/1.1\r\nHost: web.test\r\nContent-Length: 100000\r\n\r\n" + "x".repeat(1000));
  await c.closed;
  expect(c.text).toStartWith("HTTP/1.1 413 ");
  expect(c.text.toLowerCase()).toContain("connection: close");
  expect(c.text).toEndWith("too big!");
  // the next request needs a new connection to the app: the old one still expected 99,000 bytes of body
  const res = await fetch(`${r.url}/`, { headers: { host: "web.test" } });
  expect(await res.text()).toBe("ok");
  expect(connections).toBe(2);
});

test("an app connection paused for a slow client is resumed before it is pooled: the next request on it is answered", async () => {
  const r = startRouter();
  rawApp<{ buf: string }>(r.router, {
    open: (s) => void (s.data = { buf: "" }),
    data(s, chunk) {
      s.data.buf += chunk.toString("latin1");
      for (let end = s.data.buf.indexOf("\r\n\r\n"); end >= 0; end = s.data.buf.indexOf("\r\n\r\n")) {
        const path = s.data.buf.slice(0, end).split(" ")[1]!;
        s.data.buf = s.data.buf.slice(end + 4);
        const size = Number(/^\/big(\d+)/.exec(path)?.[1] ?? 0);
        const body = size > 0 ? Buffer.alloc(size, 97) : Buffer.from("ok");
        s.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`), body]));
      }
    },
  });
  // A client with a 4 KiB receive buffer that reads late: the end of its answers meets a full socket, so the
  // router pauses the app's connection. (Bun's sockets cannot set SO_RCVBUF; Python's can.)
  const slowClient = `
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /big2800000 HTTP/1.1\\r\\nHost: web.test\\r\\n\\r\\nGET /big500000 HTTP/1.1\\r\\nHost: web.test\\r\\nConnection: close\\r\\n\\r\\n")
time.sleep(0.5)
n = 0
while True:
    d = s.recv(1 << 20)
    if not d: break
    n += len(d)
print(n)
`;
  const slow = Bun.spawn(["python3", "-c", slowClient, String(r.port)], { stdout: "pipe" });
  const received = Number((await new Response(slow.stdout).text()).trim());
  expect(received).toBeGreaterThan(3_300_000);
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${r.url}/small`, { headers: { host: "web.test" }, signal: AbortSignal.timeout(3000) });
    expect(await res.text()).toBe("ok");
  }
});

test("a request without a body on a pooled connection the app closed unanswered is sent again only if it is idempotent", async () => {
  const r = startRouter();
  const hits: Record<string, number> = {};
  rawApp<{ n: number }>(r.router, {
    open: (s) => void (s.data = { n: 0 }),
    data(s, chunk) {
      const [method, path] = chunk.toString("latin1").split(" ") as [string, string];
      const key = `${method} ${path}`;
      hits[key] = (hits[key] ?? 0) + 1;
      // the second request on each connection is read, then the connection is closed unanswered
      if (++s.data.n === 2) s.end();
      else s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    },
  });
  const ask = (method: string, path: string) => fetch(`${r.url}${path}`, { method, headers: { host: "web.test" } });

  expect((await ask("GET", "/warm")).status).toBe(200);
  const get = await ask("GET", "/again");
  expect([get.status, await get.text()]).toEqual([200, "ok"]); // retried on a new connection
  expect(hits["GET /again"]).toBe(2);

  expect((await ask("GET", "/warm2")).status).toBe(200);
  const del = await ask("DELETE", "/once");
  expect(del.status).toBe(502); // not sent twice
  expect(hits["DELETE /once"]).toBe(1);
});

test("stop() lets a busy connection finish, then closes it; no app connection stays pooled", async () => {
  const router = createRouter({ logger: createMemoryLogger(), fallback: () => new Response("fallback") });
  const listener = router.listen({ hostname: "127.0.0.1", port: 0 });
  let open = 0;
  rawApp(router, {
    open: () => void open++,
    close: () => void open--,
    data(s) {
      setTimeout(() => s.write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow"), 200);
    },
  });
  const c = await raw(listener.port);
  c.send("GET /a HTTP/1.1\r\nHost: web.test\r\n\r\n");
  await Bun.sleep(50);
  const stopped = listener.stop(false);
  await c.closed;
  expect(c.text).toStartWith("HTTP/1.1 200");
  expect(c.text.toLowerCase()).toContain("connection: close");
  expect(c.text).toEndWith("slow");
  await stopped;
  for (let i = 0; i < 20 && open > 0; i++) await Bun.sleep(25);
  expect(open).toBe(0);
});
