import { afterEach, describe, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { get, refusedBackend, startRouter, startUpstream, stopAll } from "./support.ts";

afterEach(stopAll);

describe("routing", () => {
  test("Host picks the app, case-insensitively and with any port; unknown hosts go to the fallback", async () => {
    const r = startRouter();
    const web = startUpstream("web");
    const blog = startUpstream("blog");
    r.router.setRoute("web", ["web.example.test", "www.Custom.test"], [web.backend]);
    r.router.setRoute("blog", ["blog.example.test"], [blog.backend]);

    for (const host of ["web.example.test", "WEB.Example.TEST:8080", "www.custom.test:443", "web.example.test."]) {
      const res = await get(r, host, "/hello?x=1");
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ name: "web", path: "/hello?x=1" });
    }
    expect(await (await get(r, "blog.example.test")).json()).toMatchObject({ name: "blog" });

    const other = await get(r, "api.example.test", "/api/health");
    expect(other.headers.get("x-fallback")).toBe("yes");
    expect(await other.text()).toBe("fallback /api/health");
    expect(r.router.routeFor("WWW.CUSTOM.TEST:80")).toEqual({ app: "web", backends: [web.backend] });
    expect(r.router.routeFor("nope.test")).toBeNull();

    r.router.removeRoute("web");
    expect((await get(r, "web.example.test")).headers.get("x-fallback")).toBe("yes");
    expect(r.logs).toEqual([]);
  });

  test("round robin across an app's backends", async () => {
    const r = startRouter();
    const ups = ["a", "b", "c"].map((name) => startUpstream(name));
    r.router.setRoute("web", ["web.test"], ups.map((u) => u.backend));
    const names: string[] = [];
    for (let i = 0; i < 6; i++) names.push(((await (await get(r, "web.test")).json()) as { name: string }).name);
    expect(names).toEqual(["a", "b", "c", "a", "b", "c"]);
  });

  test("keep-alive to upstreams: many requests reuse few connections", async () => {
    const r = startRouter();
    const ports = new Set<number>();
    const up = startUpstream("web", (req, server) => {
      ports.add(server.requestIP(req)!.port);
      return new Response("ok");
    });
    r.router.setRoute("web", ["web.test"], [up.backend]);
    for (let i = 0; i < 50; i++) expect(await (await get(r, "web.test")).text()).toBe("ok");
    expect(ports.size).toBeLessThanOrEqual(2);
  });
});

describe("headers", () => {
  test("X-Forwarded-For appends the client address; -Proto and -Host are set; Host passes through", async () => {
    const r = startRouter();
    const up = startUpstream("web");
    r.router.setRoute("web", ["web.test"], [up.backend]);
    const res = await get(r, "Web.Test:8080", "/", { headers: { "x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https" } });
    const { headers } = (await res.json()) as { headers: Record<string, string> };
    expect(headers["x-forwarded-for"]).toBe("203.0.113.9, 127.0.0.1");
    expect(headers["x-forwarded-proto"]).toBe("http");
    expect(headers["x-forwarded-host"]).toBe("Web.Test:8080");
    expect(headers["x-forwarded-port"]).toBe(String(r.port)); // the port the client reached, not the Host header's
    expect(headers.host).toBe("Web.Test:8080");

    const plain = (await (await get(r, "web.test")).json()) as { headers: Record<string, string> };
    expect(plain.headers["x-forwarded-for"]).toBe("127.0.0.1");
  });

  test("hop-by-hop headers are stripped both ways, including those Connection names", async () => {
    const r = startRouter();
    let seen: Headers | undefined;
    const up = startUpstream("web", (req) => {
      seen = req.headers;
      return new Response("ok", { headers: { "keep-alive": "timeout=5", "x-secret-hop": "1", connection: "x-secret-hop", "x-kept": "1" } });
    });
    r.router.setRoute("web", ["web.test"], [up.backend]);
    const res = await get(r, "web.test", "/", {
      headers: { connection: "keep-alive, x-drop-me", "x-drop-me": "1", "proxy-authorization": "Basic eA==", te: "trailers", "keep-alive": "300", "x-keep": "1" },
    });
    expect(await res.text()).toBe("ok");
    expect(seen!.get("x-drop-me")).toBeNull();
    expect(seen!.get("proxy-authorization")).toBeNull();
    expect(seen!.get("te")).toBeNull();
    expect(seen!.get("keep-alive")).toBeNull();
    expect(seen!.get("x-keep")).toBe("1");
    expect(res.headers.get("keep-alive")).toBeNull();
    expect(res.headers.get("x-secret-hop")).toBeNull();
    expect(res.headers.get("x-kept")).toBe("1");
  });

  test("Content-Encoding passes through untouched (no decompression)", async () => {
    const r = startRouter();
    const text = "hello ".repeat(1000);
    const gz = gzipSync(text);
    const up = startUpstream("web", () => new Response(gz, { headers: { "content-encoding": "gzip", "content-type": "text/plain" } }));
    r.router.setRoute("web", ["web.test"], [up.backend]);
    const res = await get(r, "web.test", "/", { decompress: false } as RequestInit);
    expect(res.headers.get("content-encoding")).toBe("gzip");
    expect(res.headers.get("content-length")).toBe(String(gz.length));
    expect(Buffer.from(await res.arrayBuffer()).equals(gz)).toBe(true);
  });

  test("redirects are passed through, not followed", async () => {
    const r = startRouter();
    const up = startUpstream("web", (req) =>
      new URL(req.url).pathname === "/old" ? new Response(null, { status: 302, headers: { location: "/new" } }) : new Response("new page"),
    );
    r.router.setRoute("web", ["web.test"], [up.backend]);
    const res = await get(r, "web.test", "/old", { redirect: "manual" });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/new");
  });

  test("status, HEAD and 204 pass through", async () => {
    const r = startRouter();
    const up = startUpstream("web", (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/none") return new Response(null, { status: 204 });
      if (path === "/missing") return new Response("nope", { status: 404, headers: { "content-type": "text/plain" } });
      return new Response("12345", { headers: { "content-type": "text/plain" } });
    });
    r.router.setRoute("web", ["web.test"], [up.backend]);
    expect((await get(r, "web.test", "/none")).status).toBe(204);
    const missing = await get(r, "web.test", "/missing");
    expect([missing.status, await missing.text()]).toEqual([404, "nope"]);
    const head = await get(r, "web.test", "/", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("5");
    expect(await head.text()).toBe("");
    expect(r.router.drain([up.backend], 0)).resolves.toEqual({ drained: true, inFlight: 0 });
  });
});

describe("errors", () => {
  test("503 page when the app has no backends, 502 page when none answers; no address leaks", async () => {
    const r = startRouter();
    r.router.setRoute("empty", ["empty.test"], []);
    const dead = refusedBackend();
    r.router.setRoute("dead", ["dead.test"], [dead]);

    const empty = await get(r, "empty.test");
    expect(empty.status).toBe(503);
    expect(empty.headers.get("content-type")).toContain("text/html");
    const emptyBody = await empty.text();
    expect(emptyBody).toContain("503");

    const bad = await get(r, "dead.test");
    expect(bad.status).toBe(502);
    expect(bad.headers.get("content-type")).toContain("text/html");
    const badBody = await bad.text();
    expect(badBody).toContain("502");
    for (const body of [emptyBody, badBody]) {
      expect(body).not.toContain("127.0.0.1");
      expect(body).not.toContain(String(dead.port));
    }
    expect(r.logs).toHaveLength(1);
    expect(r.logs[0]).toMatch(/warn router\.upstream_failed app=dead backend=127\.0\.0\.1:\d+ error=ECONNREFUSED/);
  });

  test("a refused connection is retried once on the next backend, with its body", async () => {
    const r = startRouter();
    const live = startUpstream("live", async (req) => new Response(`live got ${(await req.text()).length}`));
    const dead = refusedBackend();
    r.router.setRoute("web", ["web.test"], [dead, live.backend]);
    for (let i = 0; i < 4; i++) {
      const res = await get(r, "web.test", "/", { method: "POST", body: "x".repeat(1000) });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("live got 1000");
    }
    // round robin puts the dead backend first every other pick: each such request retries once
    expect(r.logs.filter((l) => l.includes("router.upstream_refused")).length).toBeGreaterThanOrEqual(2);

    r.router.setRoute("two-dead", ["two.test"], [refusedBackend(), refusedBackend(), live.backend]);
    const res = await get(r, "two.test");
    expect(res.status).toBe(502); // dead, then dead again: one retry only
  });

  test("an upstream that dies mid-response: the client sees a failure, the router logs one line", async () => {
    const r = startRouter();
    // a raw upstream that promises 100000 bytes, sends 7, then hangs up
    const raw = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(socket) {
          socket.write("HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\npartial");
          setTimeout(() => socket.end(), 50);
        },
      },
    });
    const up = { backend: { host: "127.0.0.1", port: raw.port } };
    r.router.setRoute("web", ["web.test"], [up.backend]);
    const res = await get(r, "web.test");
    expect(await res.text().then(() => "complete", () => "failed")).toBe("failed");
    expect(await r.router.drain([up.backend], 2000)).toEqual({ drained: true, inFlight: 0 });
    expect(r.logs).toHaveLength(1);
    expect(r.logs[0]).toContain("router.upstream_body_failed app=web");
    raw.stop(true);
  });
});
