import { afterEach, expect, test } from "bun:test";
import { startRouter, stopAll } from "./support.ts";

afterEach(stopAll);

test(
  "a WebSocket through the router stays open across 2 minutes of silence",
  async () => {
    const r = startRouter();
    const up = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req, s) => (s.upgrade(req, { data: undefined }) ? undefined : new Response("no", { status: 400 })),
      websocket: { message: (ws, m) => void ws.send(m) },
    });
    r.router.setRoute("web", ["web.test"], [{ host: "127.0.0.1", port: up.port! }]);
    const ws = new WebSocket(`ws://127.0.0.1:${r.port}/`, { headers: { host: "web.test" } });
    let closed: number | null = null;
    ws.onclose = (e) => (closed = e.code);
    await new Promise((resolve) => (ws.onopen = resolve));
    ws.send("before");
    expect(await new Promise((resolve) => (ws.onmessage = (e) => resolve(e.data)))).toBe("before");

    await Bun.sleep(130_000);

    expect(closed).toBeNull();
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.send("after");
    expect(await new Promise((resolve) => (ws.onmessage = (e) => resolve(e.data)))).toBe("after");
    ws.close(1000);
    up.stop(true);
    expect(r.logs).toEqual([]);
  },
  200_000,
);
