import { afterEach, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import { createRouter } from "../../src/router/index.ts";
import { rawConnection, startUpstream, stopAll } from "./support.ts";

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
  await stopAll();
});

/** A router whose fallback (the API's place) answers with the client it was told about. */
function whoRouter() {
  const router = createRouter({
    logger: createMemoryLogger(),
    fallback: (req, server) => Response.json({ ip: server.requestIP(req), header: req.headers.get("x-beamstalk-client") }),
  });
  const listener = router.listen({ hostname: "127.0.0.1", port: 0 });
  stops.push(() => listener.stop(true));
  return { router, port: listener.port };
}

/** A router whose fallback answers with the path it was asked for and the length of the body. */
function pathAndLength() {
  const router = createRouter({
    logger: createMemoryLogger(),
    fallback: async (req) => new Response(`${new URL(req.url).pathname} ${(await req.arrayBuffer()).byteLength}`),
  });
  const listener = router.listen({ hostname: "127.0.0.1", port: 0 });
  stops.push(() => listener.stop(true));
  return listener;
}

/** Ports this machine listens on over TCP (IPv4 and IPv6). */
function listeningPorts(): Set<number> {
  const ports = new Set<number>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === "0A") ports.add(parseInt(cols[1]!.split(":").pop()!, 16));
    }
  }
  return ports;
}

const slowDirs = () => new Set(readdirSync(tmpdir()).filter((name) => name.startsWith("beamstalk-slow-")));

test("the slow path listens on no TCP port: only the public one is new, and its socket sits in a 0700 directory", () => {
  const before = listeningPorts();
  const dirsBefore = slowDirs();
  const { port } = whoRouter();
  const added = [...listeningPorts()].filter((p) => !before.has(p));
  expect(added).toEqual([port]);
  const dirs = [...slowDirs()].filter((d) => !dirsBefore.has(d));
  expect(dirs.length).toBeGreaterThanOrEqual(1);
  for (const dir of dirs) {
    expect(statSync(join(tmpdir(), dir)).mode & 0o777).toBe(0o700);
    expect(statSync(join(tmpdir(), dir, "slow.sock")).isSocket()).toBe(true);
  }
});

test("a client's own x-beamstalk-client header is no use: the slow path sees the address the front saw, on every pipelined request", async () => {
  const { port } = whoRouter();
  const c = await rawConnection(port);
  const forged = "x-beamstalk-client: guess 203.0.113.66 1\r\n";
  c.write(`GET /a HTTP/1.1\r\nHost: api.test\r\n${forged}\r\nGET /b HTTP/1.1\r\nHost: api.test\r\n${forged}\r\n`);
  await Bun.sleep(300);
  const bodies = (c.received.match(/\{"ip":\{[^}]*\},"header":[^}]*\}/g) ?? []).map((part) => JSON.parse(part));
  expect(bodies).toHaveLength(2);
  for (const body of bodies) {
    expect(body.ip.address).toBe("127.0.0.1");
    expect(body.header).toBeNull();
  }
});

test("a request to the slow path's socket that does not come from the front is refused", async () => {
  const dirsBefore = slowDirs();
  whoRouter();
  const dir = [...slowDirs()].find((d) => !dirsBefore.has(d))!;
  const res = await fetch("http://api.test/", { unix: join(tmpdir(), dir, "slow.sock"), headers: { "x-beamstalk-client": "guess 203.0.113.66 1" } } as RequestInit);
  expect(res.status).toBe(400);
});

test("after a refused upgrade the connection goes raw, and a forged header on what follows gets a 400", async () => {
  const { port } = whoRouter();
  const c = await rawConnection(port);
  c.write("GET /ws HTTP/1.1\r\nHost: api.test\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  await Bun.sleep(200);
  expect(c.received).toStartWith("HTTP/1.1 200 ");
  c.write("GET /next HTTP/1.1\r\nHost: api.test\r\nx-beamstalk-client: guess 203.0.113.66 1\r\n\r\n");
  await Bun.sleep(200);
  expect(c.received).toContain("HTTP/1.1 400 ");
  expect(c.received).not.toContain("203.0.113.66");
});

test("an app reached through the slow path (HTTP/1.0) gets X-Forwarded-For of the client, and never the front's header", async () => {
  const { router, port } = whoRouter();
  const up = startUpstream("web");
  router.setRoute("web", ["web.test"], [up.backend]);
  const c = await rawConnection(port);
  c.write("GET /old HTTP/1.0\r\nHost: web.test\r\n\r\n");
  await c.closed;
  const body = JSON.parse(c.received.slice(c.received.indexOf("\r\n\r\n") + 4));
  expect(body.path).toBe("/old");
  expect(body.headers["x-forwarded-for"]).toBe("127.0.0.1");
  expect(body.headers["x-beamstalk-client"]).toBeUndefined();
});

test("bodies handed to the slow path keep their framing: a large chunked upload, then a Content-Length one pipelined behind a bodiless request", async () => {
  const listener = pathAndLength();
  const big = new Uint8Array(5 * 1024 * 1024).fill(120);
  const chunked = await fetch(`http://127.0.0.1:${listener.port}/push`, {
    method: "POST",
    headers: { host: "api.test" },
    body: new ReadableStream({
      start(c) {
        for (let at = 0; at < big.length; at += 65536) c.enqueue(big.subarray(at, at + 65536));
        c.close();
      },
    }),
  });
  expect(await chunked.text()).toBe(`/push ${big.length}`);
  const c = await rawConnection(listener.port);
  c.write("GET /first HTTP/1.1\r\nHost: api.test\r\n\r\nPOST /second HTTP/1.1\r\nHost: api.test\r\nContent-Length: 5\r\n\r\nhelloPOST /third HTTP/1.1\r\nHost: api.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  await Bun.sleep(300);
  expect(c.received.match(/\/(first|second|third) \d+/g)).toEqual(["/first 0", "/second 5", "/third 3"]);
});

test("the slow path's directory goes under socketDir (the daemon's data directory), unless the path would be too long for a socket", async () => {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const base = mkdtempSync(join(tmpdir(), "beamstalk-sockdir-"));
  try {
    const router = createRouter({ logger: createMemoryLogger(), fallback: () => new Response("api") });
    const listener = router.listen({ hostname: "127.0.0.1", port: 0, socketDir: base });
    stops.push(() => listener.stop(true));
    const [dir] = readdirSync(base);
    expect(dir).toStartWith("beamstalk-slow-");
    expect(statSync(join(base, dir!)).mode & 0o777).toBe(0o700);
    expect(await (await fetch(`http://127.0.0.1:${listener.port}/`, { headers: { host: "api.test" } })).text()).toBe("api");
    await listener.stop(true);
    expect(readdirSync(base)).toEqual([]);
    const long = join(base, "x".repeat(90));
    const other = router.listen({ hostname: "127.0.0.1", port: 0, socketDir: long });
    stops.push(() => other.stop(true));
    expect(await (await fetch(`http://127.0.0.1:${other.port}/`, { headers: { host: "api.test" } })).text()).toBe("api");
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test("a graceful stop lets an answer the slow path is still streaming on a piped connection finish", async () => {
  const router = createRouter({
    logger: createMemoryLogger(),
    fallback: () =>
      new Response(
        new ReadableStream({
          async start(c) {
            c.enqueue(new TextEncoder().encode("first "));
            await Bun.sleep(400);
            c.enqueue(new TextEncoder().encode("last"));
            c.close();
          },
        }),
      ),
  });
  const listener = router.listen({ hostname: "127.0.0.1", port: 0 });
  const res = await fetch(`http://127.0.0.1:${listener.port}/stream`, { headers: { host: "api.test" } });
  const reader = res.body!.getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toBe("first ");
  const stopped = listener.stop(false);
  let rest = "";
  for (;;) {
    const chunk = await reader.read().catch(() => ({ done: true, value: undefined }));
    if (chunk.done) break;
    rest += new TextDecoder().decode(chunk.value);
  }
  expect(rest).toBe("last");
  await stopped;
});

test("a Host the slow path's Bun cannot parse is a 400 at the front; without a Host (HTTP/1.0) the path reaches the slow path whole", async () => {
  const listener = pathAndLength();
  for (const host of ["a b", "a@b", "web.test/x", "wé.test", "[::1"]) {
    const c = await rawConnection(listener.port);
    c.write(`GET /x/api/apps HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    await Promise.race([c.closed, Bun.sleep(1_000)]);
    expect([host, c.received.split("\r\n")[0], c.isClosed]).toEqual([host, "HTTP/1.1 400 Bad Request", true]);
  }
  for (const head of ["POST /x/api/apps HTTP/1.0\r\nContent-Length: 3", "POST /x/api/apps HTTP/1.1\r\nHost:\r\nContent-Length: 3"]) {
    const c = await rawConnection(listener.port);
    c.write(`${head}\r\nConnection: close\r\n\r\nabc`);
    await Promise.race([c.closed, Bun.sleep(1_000)]);
    expect(c.received).toEndWith("/x/api/apps 3");
  }
});
