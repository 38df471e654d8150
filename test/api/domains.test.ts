import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ApiDeps } from "../../src/api/context.ts";
import { certRoutes } from "../../src/api/certs.ts";
import { domainRoutes } from "../../src/api/domains.ts";
import { Secret } from "../../src/lib/secret.ts";
import { createRouter } from "../../src/router/index.ts";
import { Certificates } from "../../src/state/certificates.ts";
import { Cipher } from "../../src/state/crypto.ts";
import { Domains } from "../../src/state/domains.ts";
import { type Issuer, TlsManager } from "../../src/tls/index.ts";
import { testApi } from "../support/api.ts";

let t: ReturnType<typeof testApi>;
let domains: Domains;
let certificates: Certificates;
let changes: string[];
let running: TlsManager | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
  t?.close();
});

/** PEM files made with openssl: a certificate for www.example.com, its key, and a key of another pair. */
const pem: Record<"cert" | "key" | "otherKey" | "otherCert", string> = { cert: "", key: "", otherKey: "", otherCert: "" };
beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "beamstalk-certs-"));
  const make = async (name: string, prefix: string) => {
    const proc = Bun.spawn(
      ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", join(dir, `${prefix}.key`), "-out", join(dir, `${prefix}.pem`), "-days", "30", "-subj", `/CN=${name}`, "-addext", `subjectAltName=DNS:${name}`],
      { stdout: "ignore", stderr: "ignore" },
    );
    expect(await proc.exited).toBe(0);
  };
  await make("www.example.com", "a");
  await make("other.example.com", "b");
  pem.cert = readFileSync(join(dir, "a.pem"), "utf8");
  pem.key = readFileSync(join(dir, "a.key"), "utf8");
  pem.otherCert = readFileSync(join(dir, "b.pem"), "utf8");
  pem.otherKey = readFileSync(join(dir, "b.key"), "utf8");
});

/**
 * The test API with the domain and cert routes mounted as the daemon mounts them. By default a
 * TlsManager that never listens; with `issuer` it is started (on 127.0.0.1, port 0) with the
 * daemon's `wanted` list, and orders from that issuer.
 */
async function setup(options: { issuer?: Issuer } = {}) {
  t = testApi();
  domains = new Domains(t.state.db, () => new Date(), t.state.activity);
  certificates = new Certificates(t.state.db, () => new Date(), new Cipher(randomBytes(32)));
  const tls = new TlsManager({
    certificates,
    logger: t.logger,
    listen: { hostname: "127.0.0.1", port: 0 },
    entrance: createRouter({ logger: t.logger, fallback: () => new Response("x") }).entrance,
    acme: { issuer: options.issuer ?? { issue: () => Promise.reject(new Error("no CA in API tests")) } },
    fallback: null,
    reloadDelayMs: 10,
    ...(options.issuer ? { wanted: () => domains.allHostnames("apps.test") } : {}),
  });
  changes = [];
  const deps = { state: t.state, logger: t.logger, version: "test", baseDomain: "apps.test" } as unknown as ApiDeps;
  const d = {
    domains,
    tls,
    changed: (app: { name: string }, change: { added: string[]; removed: string[] }) => {
      changes.push(`${app.name} +${change.added.join(",")} -${change.removed.join(",")}`);
      tls.ensure(change.added);
      tls.drop(change.removed);
    },
  };
  t.api.route("/api/apps/:app/domains", domainRoutes(deps, d));
  t.api.route("/api/apps/:app/certs", certRoutes(deps, d));

  const admin = await t.admin();
  const owner = await t.user(admin, "owner@example.com");
  const collab = await t.user(admin, "collab@example.com");
  const viewer = await t.user(admin, "viewer@example.com");
  const other = await t.user(admin, "other@example.com");
  await t.call("POST", "/api/apps", { key: owner, body: { name: "web" } });
  await t.call("POST", "/api/apps", { key: other, body: { name: "theirs" } });
  await t.call("POST", "/api/apps/web/access", { key: owner, body: { email: "collab@example.com" } });
  await t.call("POST", "/api/apps/web/access", { key: owner, body: { email: "viewer@example.com", role: "viewer" } });
  if (options.issuer) {
    running = tls;
    await tls.start();
    await tls.settle();
  }
  return { admin, owner, collab, viewer, other, tls };
}

const add = (key: string, domain: unknown, app = "web") => t.call("POST", `/api/apps/${app}/domains`, { key, body: { domain } });
const list = (key: string, app = "web") => t.call("GET", `/api/apps/${app}/domains`, { key });
const remove = (key: string, domain: string, app = "web") => t.call("DELETE", `/api/apps/${app}/domains/${encodeURIComponent(domain)}`, { key });

describe("domains API", () => {
  test("add, list with certificate state, remove; the router/TLS callback hears each change", async () => {
    const { owner } = await setup();
    expect((await list(owner)).body).toEqual([
      { domain: "web.apps.test", custom: false, certificate: { state: "none", source: null, expires_at: null, last_error: null, next_attempt_at: null } },
    ]);
    const res = await add(owner, "www.example.com");
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ domain: "www.example.com", custom: true, certificate: { state: "pending", source: "acme" } });
    expect(changes).toEqual(["web +www.example.com -"]);
    expect((await list(owner)).body.map((d: { domain: string; certificate: { state: string } }) => [d.domain, d.certificate.state])).toEqual([
      ["web.apps.test", "none"],
      ["www.example.com", "pending"],
    ]);
    expect(domains.hostnamesFor("web", "apps.test")).toEqual(["web.apps.test", "www.example.com"]);
    expect(domains.hostnamesFor("web")).toEqual(["www.example.com"]);

    // Twice is fine and changes nothing.
    expect((await add(owner, "www.example.com")).status).toBe(200);
    expect(changes).toHaveLength(1);

    expect((await remove(owner, "www.example.com")).body).toEqual({ domain: "www.example.com", removed: true });
    expect(changes).toEqual(["web +www.example.com -", "web + -www.example.com"]);
    expect(certificates.get("www.example.com")).toBeNull();
    expect((await remove(owner, "www.example.com")).status).toBe(404);

    const activity = (await t.call("GET", "/api/apps/web/activity", { key: owner })).body as { action: string; detail: string }[];
    expect(activity.slice(0, 2).map((e) => [e.action, e.detail])).toEqual([
      ["domain.remove", "Removed domain www.example.com"],
      ["domain.add", "Added domain www.example.com"],
    ]);
  });

  test("invalid names are refused with the reason", async () => {
    const { owner } = await setup();
    const bad: [unknown, string][] = [
      ["localhost", "at least two labels"],
      ["*.example.com", "wildcard"],
      ["WWW.example.com", "lower case"],
      ["a..example.com", "empty label"],
      ["-a.example.com", "may hold only"],
      ["a_b.example.com", "may hold only"],
      [`${"a".repeat(64)}.example.com`, "longer than 63"],
      [`${"abcdefghi.".repeat(26)}com`, "longer than 253"],
      ["10.0.0.1", "IP addresses"],
      ["example.com.", "empty label"],
      ["", "empty"],
      [42, "not a string"],
    ];
    for (const [name, why] of bad) {
      const res = await add(owner, name);
      expect(res.status).toBe(400);
      expect(res.body.error.message).toContain(why);
    }
    expect(changes).toEqual([]);
    expect(domains.all()).toEqual([]);
    // A label of exactly 63 and a name of exactly 253 characters are fine.
    expect((await add(owner, `${"a".repeat(63)}.example.com`)).status).toBe(201);
    const long = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(57)}.com`;
    expect(long.length).toBe(253);
    expect((await add(owner, long)).status).toBe(201);
  });

  test("a domain of another app is a 409 that names no app; the base domain is the platform's", async () => {
    const { owner, other } = await setup();
    expect((await add(other, "shop.example.com", "theirs")).status).toBe(201);
    const taken = await add(owner, "shop.example.com");
    expect(taken.status).toBe(409);
    expect(taken.body.error.message).toBe("domain shop.example.com is already in use by another app");
    expect(taken.body.error.message).not.toContain("theirs");
    const base = await add(owner, "evil.apps.test");
    expect(base.status).toBe(409);
    expect(base.body.error.message).toContain("base domain");
    expect(domains.ownerOf("shop.example.com")).toBe("theirs");
  });

  test("another user's app answers 404; viewers read, collaborators change", async () => {
    const { owner, collab, viewer, other } = await setup();
    await add(owner, "www.example.com");
    for (const res of [await list(other), await add(other, "x.example.com"), await remove(other, "www.example.com")]) {
      expect(res.status).toBe(404);
      expect(res.body.error.message).toBe("app web not found");
    }
    expect((await list(viewer)).status).toBe(200);
    expect((await add(viewer, "v.example.com")).status).toBe(403);
    expect((await remove(viewer, "www.example.com")).status).toBe(403);
    expect((await add(collab, "c.example.com")).status).toBe(201);
    expect((await remove(collab, "c.example.com")).status).toBe(200);
    expect((await t.call("GET", "/api/apps/web/domains")).status).toBe(401);
  });

  test("destroying an app takes its domains with it", async () => {
    const { owner } = await setup();
    await add(owner, "www.example.com");
    t.state.apps.destroy(t.state.apps.byName("web")!);
    expect(domains.all()).toEqual([]);
    expect(domains.ownerOf("www.example.com")).toBeNull();
  });
});

describe("manual certificates API", () => {
  const post = (key: string, body: unknown, app = "web") => t.call("POST", `/api/apps/${app}/certs`, { key, body });

  test("installs a matching certificate for the app's domain; the key is encrypted at rest and never logged", async () => {
    const { owner } = await setup();
    await add(owner, "www.example.com");
    const res = await post(owner, { domain: "www.example.com", cert: pem.cert, key: pem.key });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ domain: "www.example.com", state: "issued", source: "manual", next_attempt_at: null });
    expect(Date.parse(res.body.expires_at)).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    const row = (await list(owner)).body.find((d: { domain: string }) => d.domain === "www.example.com");
    expect(row.certificate).toMatchObject({ state: "issued", source: "manual" });
    // Never due for ACME.
    expect(certificates.due(new Date(Date.now() + 365 * 86_400_000))).not.toContain("www.example.com");
    const raw = t.state.db.query("SELECT key FROM certificates WHERE domain = ?").get("www.example.com") as { key: Uint8Array };
    expect(Buffer.from(raw.key).toString("latin1")).not.toContain("PRIVATE KEY");
    expect(certificates.get("www.example.com")!.key!.reveal()).toBe(pem.key);
    expect(String(certificates.get("www.example.com")!.key)).toBe("[REDACTED]");
    expect(t.logger.lines.join("\n")).not.toContain("PRIVATE KEY");
    expect(t.logger.lines.some((l) => l.includes("certs.add") && l.includes("domain=www.example.com"))).toBe(true);
  });

  test("a key that does not match the certificate, a certificate for another name, garbage, or someone else's domain are refused", async () => {
    const { owner, other } = await setup();
    await add(owner, "www.example.com");
    await add(other, "theirs.example.com", "theirs");
    const mismatch = await post(owner, { domain: "www.example.com", cert: pem.cert, key: pem.otherKey });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.error.message).toBe("the private key does not match the certificate");
    expect(mismatch.text).not.toContain("PRIVATE KEY");
    const wrongName = await post(owner, { domain: "www.example.com", cert: pem.otherCert, key: pem.otherKey });
    expect(wrongName.status).toBe(400);
    expect(wrongName.body.error.message).toBe("the certificate is for other.example.com, not www.example.com");
    const garbage = await post(owner, { domain: "www.example.com", cert: "not a cert", key: pem.key });
    expect(garbage.status).toBe(400);
    expect(garbage.body.error.message).toContain("no PEM certificate");
    const notOurs = await post(owner, { domain: "theirs.example.com", cert: pem.cert, key: pem.key });
    expect(notOurs.status).toBe(404);
    expect(notOurs.body.error.message).toBe("theirs.example.com is not a domain of web");
    expect((await post(other, { domain: "www.example.com", cert: pem.cert, key: pem.key })).status).toBe(404);
    expect(certificates.get("www.example.com")).toMatchObject({ source: "acme", state: "pending" });
    expect(t.logger.lines.join("\n")).not.toContain("PRIVATE KEY");
  });

  test("the app's own <app>.<base-domain> may get a manual certificate too", async () => {
    const { owner, tls } = await setup();
    // A certificate for a name the app does not hold is refused before the key is looked at.
    expect((await post(owner, { domain: "web.apps.test", cert: pem.cert, key: pem.key })).status).toBe(400);
    expect(() => tls.addManual("www.example.com", pem.cert, new Secret(pem.otherKey))).toThrow("does not match");
  });
});

/**
 * A stand-in certificate authority for the in-process API: each order is a fresh openssl
 * key and self-signed certificate for the name; names in `refuse` fail with an ACME-style
 * reason. (The daemon test in test/e2e/https.test.ts does the same against real Pebble.)
 */
function testIssuer() {
  const refuse = new Set<string>();
  const orders: string[] = [];
  const issuer: Issuer = {
    async issue(hostname) {
      orders.push(hostname);
      if (refuse.has(hostname)) throw new Error(`urn:ietf:params:acme:error:connection: Connection refused for ${hostname}`);
      const dir = mkdtempSync(join(tmpdir(), "beamstalk-issuer-"));
      try {
        const argv = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", join(dir, "k.pem"), "-out", join(dir, "c.pem"), "-days", "90", "-subj", `/CN=${hostname}`, "-addext", `subjectAltName=DNS:${hostname}`];
        const proc = Bun.spawn(argv, { stdout: "ignore", stderr: "ignore" });
        if ((await proc.exited) !== 0) throw new Error("openssl failed");
        return { cert: readFileSync(join(dir, "c.pem"), "utf8"), key: new Secret(readFileSync(join(dir, "k.pem"), "utf8")) };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  return { issuer, refuse, orders };
}

describe("certs:renew and certs:remove API", () => {
  const renew = (key: string, domain: string, app = "web") => t.call("POST", `/api/apps/${app}/certs/${encodeURIComponent(domain)}/renew`, { key });
  const removeCert = (key: string, domain: string, app = "web") => t.call("DELETE", `/api/apps/${app}/certs/${encodeURIComponent(domain)}`, { key });
  const serial = (domain: string) => new X509Certificate(certificates.get(domain)!.cert!).serialNumber;

  test("renew orders a new certificate with a new key now and answers once it is issued; owner and collaborator may", async () => {
    const ca = testIssuer();
    const { owner, collab, tls } = await setup({ issuer: ca.issuer });
    await add(owner, "www.example.com");
    await tls.settle();
    expect(tls.status("www.example.com").state).toBe("issued");
    const before = { serial: serial("www.example.com"), key: certificates.get("www.example.com")!.key!.reveal() };
    const ordersBefore = ca.orders.filter((o) => o === "www.example.com").length;

    const res = await renew(owner, "www.example.com");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ domain: "www.example.com", state: "issued", source: "acme", last_error: null });
    expect(ca.orders.filter((o) => o === "www.example.com").length).toBe(ordersBefore + 1);
    expect(serial("www.example.com")).not.toBe(before.serial);
    expect(certificates.get("www.example.com")!.key!.reveal()).not.toBe(before.key);
    expect(res.body.expires_at).toBe(certificates.get("www.example.com")!.notAfter!.toISOString());
    // The renewal time moved with the new certificate.
    expect(Date.parse(res.body.next_attempt_at)).toBeGreaterThan(Date.now() + 50 * 86_400_000);

    // A collaborator may, and so may anyone for the app's own <app>.<base-domain>.
    expect((await renew(collab, "www.example.com")).status).toBe(200);
    expect((await renew(owner, "web.apps.test")).status).toBe(200);
    const activity = (await t.call("GET", "/api/apps/web/activity", { key: owner })).body as { action: string; detail: string }[];
    expect(activity[0]).toMatchObject({ action: "cert.renew", detail: "Asked for a new certificate for web.apps.test" });
    expect(t.logger.lines.join("\n")).not.toContain("PRIVATE KEY");
  });

  test("a refused renewal answers 502 certificate_failed with the CA's reason; the old certificate keeps serving", async () => {
    const ca = testIssuer();
    const { owner } = await setup({ issuer: ca.issuer });
    await add(owner, "www.example.com");
    await running!.settle();
    const held = serial("www.example.com");
    ca.refuse.add("www.example.com");
    const res = await renew(owner, "www.example.com");
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe("certificate_failed");
    expect(res.body.error.message).toBe(
      "ordering a certificate for www.example.com failed: urn:ietf:params:acme:error:connection: Connection refused for www.example.com; the previous certificate keeps serving",
    );
    expect(res.body.error.hint).toContain("DNS");
    expect(serial("www.example.com")).toBe(held);
    const row = (await list(owner)).body.find((d: { domain: string }) => d.domain === "www.example.com");
    expect(row.certificate).toMatchObject({ state: "failed", last_error: expect.stringContaining("Connection refused") });
    expect(row.certificate.expires_at).not.toBeNull();
    // Fixed, renewing again succeeds at once (no waiting out the back-off).
    ca.refuse.delete("www.example.com");
    expect((await renew(owner, "www.example.com")).body).toMatchObject({ state: "issued", last_error: null });
  });

  test("bad input: unknown or someone else's domain, another user's app, a viewer, no key, a manual certificate", async () => {
    const ca = testIssuer();
    const { owner, viewer, other } = await setup({ issuer: ca.issuer });
    await add(owner, "www.example.com");
    await add(other, "theirs.example.com", "theirs");
    await running!.settle();
    for (const res of [await renew(owner, "nope.example.com"), await removeCert(owner, "nope.example.com")]) {
      expect(res.status).toBe(404);
      expect(res.body.error.message).toBe("nope.example.com is not a domain of web");
    }
    // Another app's domain answers like a missing one, and names no app.
    for (const res of [await renew(owner, "theirs.example.com"), await removeCert(owner, "theirs.example.com"), await renew(owner, "theirs.apps.test")]) {
      expect(res.status).toBe(404);
      expect(res.body.error.message).toEndWith("is not a domain of web");
    }
    // Another user's app is a 404 like a missing app.
    for (const res of [await renew(other, "www.example.com"), await removeCert(other, "www.example.com"), await renew(owner, "www.example.com", "nosuchapp")]) {
      expect(res.status).toBe(404);
      expect(res.body.error.message).toMatch(/^app (web|nosuchapp) not found$/);
    }
    for (const res of [await renew(viewer, "www.example.com"), await removeCert(viewer, "www.example.com")]) {
      expect(res.status).toBe(403);
      expect(res.body.error.message).toBe("your viewer access to web does not allow this");
    }
    expect((await renew(owner, "not a domain")).status).toBe(400);
    expect((await t.call("POST", "/api/apps/web/certs/www.example.com/renew")).status).toBe(401);
    expect((await t.call("DELETE", "/api/apps/web/certs/www.example.com")).status).toBe(401);
    // Nothing above ordered or dropped anything.
    expect(tlsStates()).toEqual({ "theirs.apps.test": "issued", "theirs.example.com": "issued", "web.apps.test": "issued", "www.example.com": "issued" });
    expect(ca.orders.length).toBe(4);

    // A manual certificate is not renewed by ACME: a conflict that says what to do instead.
    const manual = testIssuer();
    const own = await manual.issuer.issue("www.example.com");
    expect((await t.call("POST", "/api/apps/web/certs", { key: owner, body: { domain: "www.example.com", cert: own.cert, key: own.key.reveal() } })).status).toBe(201);
    const refused = await renew(owner, "www.example.com");
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toBe("www.example.com has a manual certificate, which is not renewed by ACME");
    expect(refused.body.error.hint).toContain("certs:remove");
    expect(certificates.get("www.example.com")!.source).toBe("manual");
  });

  test("remove drops a manual certificate and the domain goes back to automatic TLS; an ACME one is replaced by a new order", async () => {
    const ca = testIssuer();
    const { owner, collab } = await setup({ issuer: ca.issuer });
    await add(owner, "www.example.com");
    await running!.settle();
    const own = await testIssuer().issuer.issue("www.example.com");
    await t.call("POST", "/api/apps/web/certs", { key: owner, body: { domain: "www.example.com", cert: own.cert, key: own.key.reveal() } });
    const manualSerial = serial("www.example.com");

    const res = await removeCert(owner, "www.example.com");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ domain: "www.example.com", state: "pending", source: "acme", expires_at: null });
    await running!.settle();
    expect(running!.status("www.example.com")).toMatchObject({ state: "issued", source: "acme" });
    expect(serial("www.example.com")).not.toBe(manualSerial);

    // An ACME certificate (say its key leaked): gone at once, a new one ordered.
    const acmeSerial = serial("www.example.com");
    const again = await removeCert(collab, "www.example.com");
    expect(again.body).toMatchObject({ state: "pending", source: "acme" });
    await running!.settle();
    expect(running!.status("www.example.com").state).toBe("issued");
    expect(serial("www.example.com")).not.toBe(acmeSerial);

    // Nothing to remove while an order has not produced a certificate yet.
    ca.refuse.add("new.example.com");
    await add(owner, "new.example.com");
    await running!.settle();
    const none = await removeCert(owner, "new.example.com");
    expect(none.status).toBe(404);
    expect(none.body.error.message).toBe("new.example.com has no certificate");

    const activity = (await t.call("GET", "/api/apps/web/activity", { key: owner })).body as { action: string; detail: string }[];
    expect(activity.filter((e) => e.action === "cert.remove").map((e) => e.detail)).toEqual([
      "Removed the certificate of www.example.com",
      "Removed the certificate of www.example.com",
    ]);
    expect(t.logger.lines.join("\n")).not.toContain("PRIVATE KEY");
  });

  test("without TLS on the server, renew and remove say so", async () => {
    t = testApi();
    domains = new Domains(t.state.db, () => new Date(), t.state.activity);
    const deps = { state: t.state, logger: t.logger, version: "test", baseDomain: "apps.test" } as unknown as ApiDeps;
    t.api.route("/api/apps/:app/certs", certRoutes(deps, { domains, changed: () => {} }));
    const owner = await t.admin();
    await t.call("POST", "/api/apps", { key: owner, body: { name: "web" } });
    for (const res of [await renew(owner, "web.apps.test"), await removeCert(owner, "web.apps.test")]) {
      expect(res.status).toBe(503);
      expect(res.body.error).toMatchObject({ code: "unreachable", message: "TLS is not enabled on this server" });
    }
  });
});

function tlsStates(): Record<string, string> {
  return Object.fromEntries(certificates.all().map((c) => [c.domain, c.state]));
}

describe("host names", () => {
  test("hostnamesFor and allHostnames: <app>.<base-domain> first, then custom domains", async () => {
    const { owner, other } = await setup();
    await add(owner, "www.example.com");
    await add(owner, "a.example.com");
    await add(other, "shop.example.com", "theirs");
    expect(domains.hostnamesFor(t.state.apps.byName("web")!, "apps.test")).toEqual(["web.apps.test", "a.example.com", "www.example.com"]);
    expect(domains.allHostnames("apps.test")).toEqual(["theirs.apps.test", "web.apps.test", "a.example.com", "shop.example.com", "www.example.com"]);
    expect(domains.allHostnames()).toEqual(["a.example.com", "shop.example.com", "www.example.com"]);
  });
});
