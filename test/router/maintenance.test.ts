import { afterEach, describe, expect, test } from "bun:test";
import { get, type RunningRouter, startRouter, startUpstream, stopAll } from "./support.ts";

afterEach(stopAll);

/** Sends a WebSocket upgrade over a raw socket and returns the status line and body the router answers with. */
async function upgrade(r: RunningRouter, host: string): Promise<{ statusLine: string; text: string }> {
  let received = "";
  const done = Promise.withResolvers<void>();
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port: r.port,
    socket: {
      data(_s, chunk) {
        received += chunk.toString();
        if (received.includes("</html>") || (received.startsWith("HTTP/1.1 101") && received.includes("\r\n\r\n"))) done.resolve();
      },
      close: () => done.resolve(),
      error: () => done.resolve(),
    },
  });
  socket.write(
    `GET /socket HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  await Promise.race([done.promise, Bun.sleep(3000)]);
  socket.end();
  return { statusLine: received.split("\r\n", 1)[0]!, text: received };
}

describe("maintenance mode", () => {
  test("the app's hosts get a 503 maintenance page without reaching a replica; other apps are unaffected; off restores", async () => {
    const r = startRouter();
    let hits = 0;
    const web = startUpstream("web", () => (hits++, new Response("web app")));
    const blog = startUpstream("blog");
    r.router.setRoute("web", ["web.test", "www.custom.test"], [web.backend]);
    r.router.setRoute("blog", ["blog.test"], [blog.backend]);

    r.router.setMaintenance("web", true);
    for (const host of ["web.test", "WWW.Custom.test:443"]) {
      const res = await get(r, host, "/anything", { method: "POST", body: "x" });
      expect(res.status).toBe(503);
      expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(res.headers.get("cache-control")).toBe("no-store");
      const html = await res.text();
      expect(html).toContain("<h1>Down for maintenance</h1>");
      expect(html).not.toContain("127.0.0.1");
      expect(html).not.toContain(String(web.port));
    }
    expect(hits).toBe(0);
    expect((await get(r, "blog.test")).status).toBe(200);
    expect((await get(r, "other.test")).headers.get("x-fallback")).toBe("yes");

    r.router.setMaintenance("web", false);
    const back = await get(r, "web.test");
    expect(back.status).toBe(200);
    expect(await back.text()).toBe("web app");
    expect(hits).toBe(1);
  });

  test("the flag survives setRoute (a deploy during maintenance) and may be set before any route; removeRoute forgets it", async () => {
    const r = startRouter();
    const v1 = startUpstream("v1");
    const v2 = startUpstream("v2");
    r.router.setMaintenance("web", true);
    r.router.setRoute("web", ["web.test"], [v1.backend]);
    expect((await get(r, "web.test")).status).toBe(503);
    r.router.setRoute("web", ["web.test"], [v2.backend]);
    expect((await get(r, "web.test")).status).toBe(503);
    r.router.setMaintenance("web", false);
    expect(await (await get(r, "web.test")).json()).toMatchObject({ name: "v2" });
    // apps:destroy removes the route: an app created later under the same name starts out of maintenance
    r.router.setMaintenance("web", true);
    r.router.removeRoute("web");
    r.router.setRoute("web", ["web.test"], [v1.backend]);
    expect(await (await get(r, "web.test")).json()).toMatchObject({ name: "v1" });
  });

  test("a WebSocket upgrade is refused with the 503 page; after off it opens", async () => {
    const r = startRouter();
    let upgrades = 0;
    const ws = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req, s) => (upgrades++, s.upgrade(req) ? undefined : new Response("no", { status: 400 })),
      websocket: { open: (socket) => void socket.send("hello"), message() {} },
    });
    try {
      r.router.setRoute("chat", ["chat.test"], [{ host: "127.0.0.1", port: ws.port! }]);
      r.router.setMaintenance("chat", true);
      const refused = await upgrade(r, "chat.test");
      expect(refused.statusLine).toBe("HTTP/1.1 503 Service Unavailable");
      expect(refused.text).toContain("Down for maintenance");
      expect(upgrades).toBe(0);

      r.router.setMaintenance("chat", false);
      const accepted = await upgrade(r, "chat.test");
      expect(accepted.statusLine).toBe("HTTP/1.1 101 Switching Protocols");
      expect(upgrades).toBe(1);
    } finally {
      ws.stop(true);
    }
  });
});
