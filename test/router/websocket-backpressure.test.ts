import { afterEach, expect, test } from "bun:test";
import type { Server, ServerWebSocket } from "bun";
import { type RunningRouter, startRouter, stopAll } from "./support.ts";

// Flow control through the WebSocket proxy with one side reading slowly. Every
// message carries its index, so a drop or a reordering shows as a wrong index
// rather than as a hang.

afterEach(stopAll);

const upstreams: Server<unknown>[] = [];
afterEach(() => {
  for (const s of upstreams.splice(0)) s.stop(true);
});

function numbered(index: number, size: number): Uint8Array {
  const bytes = new Uint8Array(size).fill(index % 251);
  new DataView(bytes.buffer).setUint32(0, index);
  return bytes;
}

function indexOf(message: ArrayBuffer | Uint8Array | string): number {
  if (typeof message === "string") throw new Error(`unexpected text message ${message.slice(0, 80)}`);
  const bytes = message instanceof Uint8Array ? message : new Uint8Array(message);
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
}

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Starts an upstream WebSocket server with these handlers; returns its backend. */
function startWsUpstream(websocket: Parameters<typeof Bun.serve<undefined>>[0]["websocket"]) {
  const server = Bun.serve<undefined>({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, s) => (s.upgrade(req, { data: undefined }) ? undefined : new Response("not a websocket", { status: 400 })),
    websocket,
  } as Parameters<typeof Bun.serve<undefined>>[0]);
  upstreams.push(server as Server<unknown>);
  return { host: "127.0.0.1", port: server.port! };
}

/** A client WebSocket through the router, paused (not reading) from the start. */
async function connectPaused(r: RunningRouter) {
  const ws = new WebSocket(`ws://127.0.0.1:${r.port}/socket`, { headers: { host: "web.test" } });
  ws.binaryType = "arraybuffer";
  ws.pause();
  const messages: (ArrayBuffer | string)[] = [];
  ws.onmessage = (e) => messages.push(e.data);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => (ws.onclose = (e) => resolve({ code: e.code, reason: e.reason })));
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("websocket failed"));
  });
  return { ws, messages, closed };
}

test("slow path: a slow-reading client's upstream messages wait, none dropped past the backpressureLimit, order kept, then the close", async () => {
  // The message-level proxy of the slow path, with a 64 KiB backpressureLimit: ServerWebSocket.send()
  // drops (returns 0) past it, and a paused upstream still dispatches the messages it had already read.
  const r = startRouter({ slowPath: { backpressureLimit: 64 * 1024 } });
  const count = 600;
  const size = 16 * 1024;
  let sent = 0;
  let upstreamSawBackpressure = false;
  const pump = (ws: ServerWebSocket<undefined>) => {
    while (sent < count) {
      const result = ws.send(numbered(sent, size));
      if (result === 0) throw new Error("the test upstream itself dropped a message");
      sent++;
      if (result === -1) {
        upstreamSawBackpressure = true;
        return; // resumes in drain
      }
    }
    ws.close(4000, "done");
  };
  r.router.setRoute("web", ["web.test"], [startWsUpstream({ open: pump, drain: pump, message() {} })]);

  const c = await connectPaused(r);
  await sleep(300);
  expect(upstreamSawBackpressure).toBe(true);
  c.ws.resume();

  const closed = await c.closed;
  expect(closed).toEqual({ code: 4000, reason: "done" });
  expect(c.messages.length).toBe(count);
  expect(c.messages.map(indexOf)).toEqual(Array.from({ length: count }, (_, i) => i));
  expect(r.logs).toEqual([]);
}, 30_000);

test("a slow-reading upstream: the client is paused, none dropped, order kept", async () => {
  const r = startRouter();
  const count = 96;
  const size = 1024 * 1024;
  let received = 0;
  let outOfOrder = 0;
  let upstreamSocket: ServerWebSocket<undefined> | undefined;
  r.router.setRoute(
    "web",
    ["web.test"],
    [
      startWsUpstream({
        open(ws: ServerWebSocket<undefined>) {
          ws.pause(); // until the test resumes it
          upstreamSocket = ws;
        },
        message(ws: ServerWebSocket<undefined>, message: string | Buffer) {
          if (indexOf(message) !== received) outOfOrder++;
          received++;
          if (received === count) ws.send(`got ${received}, ${outOfOrder} out of order`);
        },
      }),
    ],
  );
  const c = await connectPaused(r);
  c.ws.resume();
  for (let i = 0; i < count; i++) c.ws.send(numbered(i, size));
  await sleep(400);
  // The upstream reads nothing yet: the router keeps at most about a MiB for it
  // and stops reading the client, so the rest waits in the client and the kernel.
  expect(received).toBe(0);
  expect(c.ws.bufferedAmount).toBeGreaterThan(0);
  upstreamSocket!.resume();

  while (c.messages.length === 0) await sleep(20);
  expect(c.messages).toEqual([`got ${count}, 0 out of order`]);
  c.ws.close(1000);
  expect((await c.closed).code).toBe(1000);
  expect(r.logs).toEqual([]);
}, 30_000);
