import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ApiDeps } from "../../src/api/context.ts";
import { certRoutes } from "../../src/api/certs.ts";
import { domainRoutes } from "../../src/api/domains.ts";
import { Secret } from "../../src/lib/secret.ts";
import { Certificates } from "../../src/state/certificates.ts";
import { Cipher } from "../../src/state/crypto.ts";
import { Domains } from "../../src/state/domains.ts";
import { TlsManager } from "../../src/tls/index.ts";
import { testApi } from "../support/api.ts";

let t: ReturnType<typeof testApi>;
let domains: Domains;
let certificates: Certificates;
let changes: string[];
afterEach(() => t?.close());

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

/** The test API with the domain and cert routes mounted as the daemon mounts them, and a TlsManager that never listens. */
async function setup() {
  t = testApi();
  domains = new Domains(t.state.db, () => new Date(), t.state.activity);
  certificates = new Certificates(t.state.db, () => new Date(), new Cipher(randomBytes(32)));
  const tls = new TlsManager({
    certificates,
    logger: t.logger,
    listen: { hostname: "127.0.0.1", port: 0 },
    fetch: () => new Response("x"),
    websocket: {},
    acme: { issuer: { issue: () => Promise.reject(new Error("no CA in API tests")) } },
    fallback: null,
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
