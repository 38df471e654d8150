import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { curl, servedSerial } from "./pebble.ts";
import { tlsRig, until } from "./support.ts";

/** Pebble with its nonce rejections left ON (PEBBLE_WFE_NONCEREJECT default): acme-client must retry badNonce. */
let rig: Awaited<ReturnType<typeof tlsRig>>;
let upstream: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  rig = await tlsRig({ nonceRejections: true });
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req) => new Response(`app ${req.headers.get("host")} ${new URL(req.url).pathname} proto=${req.headers.get("x-forwarded-proto")}\n`),
  });
  rig.router.setRoute("web", ["web.apps.test", "www.example.test"], [{ host: "127.0.0.1", port: upstream.port! }]);
});
afterAll(async () => {
  await rig?.close();
  await upstream?.stop(true);
});

describe("automatic TLS against Pebble", () => {
  test("issues certificates for app names, custom domains and the controller host; serves each by SNI; curl verifies against Pebble's root", async () => {
    const tls = await rig.manager();
    const names = ["web.apps.test", "www.example.test", "ctl.example.test"];
    tls.ensure(names);
    expect(tls.status("web.apps.test").state).toBe("pending");
    await tls.settle();
    for (const name of names) expect(tls.status(name)).toMatchObject({ domain: name, state: "issued", source: "acme", last_error: null });
    await until(() => rig.logger.lines.some((l) => l.includes("tls.serving") && l.includes("certificates=3")), 5_000, "the swap");
    const ca = await rig.root();
    const port = tls.port!;
    const app = await curl({ name: "www.example.test", port, caFile: ca, path: "/hello" });
    expect(app.stderr).toBe("");
    expect(app.stdout).toStartWith("app www.example.test:");
    expect(app.stdout).toContain("/hello");
    expect((await curl({ name: "web.apps.test", port, caFile: ca })).stdout).toStartWith("app web.apps.test");
    // The controller's host name is no app's: the router's fallback (API, git) answers, over HTTPS.
    expect((await curl({ name: "ctl.example.test", port, caFile: ca })).stdout).toBe("controller\n");
    // Each name gets its own certificate.
    const serials = await Promise.all(names.map((n) => servedSerial(n, port)));
    expect(new Set(serials).size).toBe(3);
    // No key material in the log.
    expect(rig.logger.lines.join("\n")).not.toContain("PRIVATE KEY");
  }, 60_000);

  test("an unknown name or no SNI gets the self-signed fallback, which names no app", async () => {
    const tls = await rig.manager();
    await until(() => tls.port !== undefined, 5_000, "listening");
    const ca = await rig.root();
    const res = await curl({ name: "nobody.example.test", port: tls.port!, caFile: ca });
    expect(res.code).not.toBe(0);
    const proc = Bun.spawn(["openssl", "s_client", "-connect", `127.0.0.1:${tls.port}`, "-noservername"], { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
    const out = await new Response(proc.stdout).text();
    expect(out).toContain("CN = beamstalk.invalid");
    expect(out).not.toContain("example.test");
  }, 30_000);

  test("HTTP redirects to HTTPS (308) once a certificate exists, never for ACME challenges", async () => {
    const tls = await rig.manager();
    await until(() => tls.status("web.apps.test").state === "issued" && tls.port !== undefined, 10_000, "stored certificate");
    await until(async () => (await fetch(`${rig.httpUrl}/x`, { headers: { host: "web.apps.test" }, redirect: "manual" })).status === 308, 5_000, "redirects");
    const res = await fetch(`${rig.httpUrl}/a/b?c=1`, { method: "POST", body: "x", headers: { host: "WEB.apps.test:80" }, redirect: "manual" });
    expect(res.status).toBe(308);
    expect(res.headers.get("location")).toBe(`https://web.apps.test:${tls.port}/a/b?c=1`);
    const challenge = await fetch(`${rig.httpUrl}/.well-known/acme-challenge/unknown-token`, { headers: { host: "web.apps.test" }, redirect: "manual" });
    expect(challenge.status).toBe(404);
    // A host without a certificate is routed as before.
    rig.router.setRoute("plain", ["plain.apps.test"], [{ host: "127.0.0.1", port: upstream.port! }]);
    const plain = await fetch(`${rig.httpUrl}/`, { headers: { host: "plain.apps.test" }, redirect: "manual" });
    expect(plain.status).toBe(200);
    expect(await plain.text()).toStartWith("app plain.apps.test");
  }, 30_000);

  test("a dropped domain stops being served and redirected at once", async () => {
    const tls = await rig.manager();
    await until(() => tls.port !== undefined, 5_000, "listening");
    const ca = await rig.root();
    await until(async () => (await curl({ name: "www.example.test", port: tls.port!, caFile: ca })).code === 0, 5_000, "serving");
    tls.drop(["www.example.test"]);
    expect(tls.status("www.example.test").state).toBe("none");
    await until(async () => (await curl({ name: "www.example.test", port: tls.port!, caFile: ca })).code !== 0, 5_000, "unserved");
    const res = await fetch(`${rig.httpUrl}/`, { headers: { host: "www.example.test" }, redirect: "manual" });
    expect(res.status).toBe(200);
  }, 30_000);
});

describe("wanted host names", () => {
  test("refresh orders what `wanted` lists and drops what it no longer does", async () => {
    let wanted = ["web.apps.test", "new.example.test"];
    const tls = await rig.manager({ wanted: () => wanted });
    await tls.settle();
    expect(tls.status("new.example.test").state).toBe("issued");
    expect(tls.status("ctl.example.test").state).toBe("none"); // issued earlier in this file, not wanted now
    wanted = ["web.apps.test"];
    tls.refresh();
    await tls.settle();
    expect(tls.status("new.example.test").state).toBe("none");
    expect(tls.status("web.apps.test").state).toBe("issued");
  }, 30_000);
});
