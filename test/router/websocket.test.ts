import { afterEach, expect, test } from "bun:test";
import type { Server } from "bun";
import { refusedBackend, type RunningRouter, startRouter, stopAll } from "./support.ts";

afterEach(stopAll);

const upstreams: Server<unknown>[] = [];
afterEach(() => {
  for (const s of upstreams.splice(0)) s.stop(true);
});

/**
 * An upstream WebSocket server: echoes, or closes with the code a "close:<code>" message names.
 * It honours backpressure (stops reading while its echoes queue up) as a real
 * upstream must: one that ignores send()'s -1 drops its own echoes past its 16 MiB
 * backpressureLimit (send() returns 0) whenever the router stops reading it for a moment.
 */
function startWsUpstream(options: { protocol?: string; idleTimeout?: number } = {}) {
  const server = Bun.serve<{ headers: Record<string, string> }>({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, s) {
      const headers: Record<string, string> = {};
      req.headers.forEach((v, k) => (headers[k] = v));
      const ok = s.upgrade(req, { data: { headers }, ...(options.protocol ? { headers: { "Sec-WebSocket-Protocol": options.protocol } } : {}) });
      return ok ? undefined : new Response("not a websocket", { status: 400 });
    },
    websocket: {
      ...(options.idleTimeout !== undefined ? { idleTimeout: options.idleTimeout } : {}),
      open(ws) {
        ws.send(JSON.stringify({ hello: ws.data.headers }));
      },
      message(ws, message) {
        if (typeof message === "string" && message.startsWith("close:")) {
          const code = Number(message.slice(6));
          if (code === 1006) ws.terminate();
          else if (code === 1005) ws.close();
          else ws.close(code, "bye");
          return;
        }
        if (ws.send(message) === -1) ws.pause();
      },
      drain(ws) {
        ws.resume();
      },
    },
  });
  upstreams.push(server);
  return { server, backend: { host: "127.0.0.1", port: server.port! } };
}

/** A client WebSocket through the router; resolves once open, with helpers to await events. */
async function connect(r: RunningRouter, host: string, protocols: string[] = []) {
  const ws = new WebSocket(`ws://127.0.0.1:${r.port}/socket?x=1`, { headers: { host }, protocols });
  ws.binaryType = "arraybuffer";
  const messages: (string | ArrayBuffer)[] = [];
  const waiters: (() => void)[] = [];
  ws.onmessage = (e) => {
    messages.push(e.data);
    waiters.splice(0).forEach((w) => w());
  };
  const closed = new Promise<{ code: number; reason: string }>((resolve) => (ws.onclose = (e) => resolve({ code: e.code, reason: e.reason })));
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("websocket failed"));
  });
  const next = async () => {
    while (messages.length === 0) await new Promise<void>((resolve) => waiters.push(resolve));
    return messages.shift()!;
  };
  return { ws, next, closed };
}

test("echo through the router: text and binary, handshake headers forwarded, subprotocol passed", async () => {
  const r = startRouter();
  const up = startWsUpstream({ protocol: "v2.chat" });
  r.router.setRoute("web", ["web.test"], [up.backend]);
  const c = await connect(r, "Web.Test:80", ["v1.chat", "v2.chat"]);
  expect(c.ws.protocol).toBe("v2.chat");
  const hello = JSON.parse((await c.next()) as string).hello as Record<string, string>;
  expect(hello["x-forwarded-for"]).toBe("127.0.0.1");
  expect(hello["x-forwarded-host"]).toBe("Web.Test:80");
  expect(hello["x-forwarded-port"]).toBe(String(r.port));
  expect(hello["sec-websocket-protocol"]).toBe("v1.chat, v2.chat");

  c.ws.send("hello text");
  expect(await c.next()).toBe("hello text");
  const bytes = new Uint8Array([0, 1, 2, 255, 254]);
  c.ws.send(bytes);
  expect(new Uint8Array((await c.next()) as ArrayBuffer)).toEqual(bytes);
  const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
  c.ws.send(big);
  expect(new Uint8Array((await c.next()) as ArrayBuffer)).toEqual(big);
  c.ws.close(1000);
  expect((await c.closed).code).toBe(1000);
  expect(r.logs).toEqual([]);
});

test("a transparent tunnel: the upstream's close code and reason pass as sent; an upstream that drops gives 1006", async () => {
  const r = startRouter();
  const up = startWsUpstream();
  r.router.setRoute("web", ["web.test"], [up.backend]);
  for (const [sent, expected, reason] of [
    [4001, 4001, "bye"],
    [1001, 1001, "bye"],
    [1005, 1000, ""], // the upstream's ws.close() without a code: Bun sends 1000 itself
    [1006, 1006, ""],
  ] as const) {
    const c = await connect(r, "web.test");
    await c.next();
    c.ws.send(`close:${sent}`);
    const closed = await c.closed;
    expect([sent, closed.code, closed.reason]).toEqual([sent, expected, reason]);
  }
  expect(r.logs).toEqual([]);
});

test("an upstream that sends bytes that are no frame after the handshake: the client fails the connection, and the router closes the upstream", async () => {
  const r = startRouter();
  // a raw TCP upstream that completes the handshake, then sends garbage that is not a frame
  let request = "";
  const upstreamClosed = Promise.withResolvers<void>();
  const raw = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(socket, data) {
        request += data.toString();
        if (!request.includes("\r\n\r\n")) return;
        const key = /sec-websocket-key: *(\S+)/i.exec(request)![1]!;
        const accept = new Bun.CryptoHasher("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
        setTimeout(() => socket.write(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff])), 100);
      },
      close: () => upstreamClosed.resolve(),
    },
  });
  r.router.setRoute("web", ["web.test"], [{ host: "127.0.0.1", port: raw.port }]);
  const c = await connect(r, "web.test");
  const { code } = await c.closed;
  expect(code === 1002 || code === 1006).toBe(true);
  await upstreamClosed.promise;
  raw.stop(true);
});

test("a refused upstream is retried on the next backend; none answering gives a 502 before any upgrade", async () => {
  const r = startRouter();
  const up = startWsUpstream();
  r.router.setRoute("web", ["web.test"], [refusedBackend(), up.backend]);
  const c = await connect(r, "web.test");
  expect(JSON.parse((await c.next()) as string)).toHaveProperty("hello");
  c.ws.close();

  r.router.setRoute("dead", ["dead.test"], [refusedBackend()]);
  const res = await fetch(`${r.url}/socket`, {
    headers: { host: "dead.test", upgrade: "websocket", connection: "Upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" },
  });
  expect(res.status).toBe(502);
  expect(await res.text()).not.toContain("127.0.0.1");
});

test("backpressure: 300 messages of 1 MiB each way arrive, none dropped", async () => {
  const r = startRouter();
  const up = startWsUpstream();
  r.router.setRoute("web", ["web.test"], [up.backend]);
  const c = await connect(r, "web.test");
  await c.next();
  const msg = new Uint8Array(1024 * 1024).fill(3);
  for (let i = 0; i < 300; i++) c.ws.send(msg);
  let bytes = 0;
  for (let i = 0; i < 300; i++) bytes += ((await c.next()) as ArrayBuffer).byteLength;
  expect(bytes).toBe(300 * 1024 * 1024);
  c.ws.close();
}, 240_000);
