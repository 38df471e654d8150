import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliUser, type RunningDaemon, startDaemon, tempDir } from "../support/daemon.ts";
import { createFixtureApp, type FixtureApp, removeAppContainers } from "../support/fixture-app.ts";
import { type LoopbackProxy, startLoopbackProxy } from "../support/loopback-proxy.ts";
import { type Pebble, curl, freePort, servedSerial, startPebble } from "../tls/pebble.ts";
import { until } from "../tls/support.ts";

/**
 * Automatic TLS through the real daemon: the compiled binary as server with
 * --https-port, --controller-host and --acme-directory pointing at a real
 * Pebble (and pebble-challtestsrv answering 127.0.0.1 for every name), the
 * CLI talking to the API at https://ctl.example.test, `git push` over HTTPS
 * deploying the fixture app, and curl verifying every certificate against
 * Pebble's root. Names reach 127.0.0.1 only: curl and git through --resolve
 * (git's http.curloptResolve), the CLI through a CONNECT proxy that maps the
 * controller's name to 127.0.0.1 (HTTPS_PROXY; TLS runs end to end through it).
 */
const CONTROLLER = "ctl.example.test";
const DOMAIN = "www.example.test";
const APP = `tls-${Math.random().toString(36).slice(2, 8)}`;
const LONG = 6 * 60_000;

let pebble: Pebble;
let daemon: RunningDaemon;
let proxy: LoopbackProxy;
let owner: CliUser;
let fixture: FixtureApp;
let httpPort: number;
let httpsPort: number;
let dir: string;
/** Pebble's issuing root (what the CLI, curl and git trust). */
let rootFile: string;

const apiUrl = () => `https://${CONTROLLER}:${httpsPort}`;
/** What the CLI needs to reach the controller by name and trust Pebble's root. */
const cliEnv = () => ({ HTTPS_PROXY: proxy.url, NODE_EXTRA_CA_CERTS: rootFile });

/** curl over plain HTTP to name:httpPort pinned to 127.0.0.1: status, Location and body. */
async function curlHttp(name: string, path: string): Promise<{ status: number; location: string; body: string }> {
  const proc = Bun.spawn(
    ["curl", "-sS", "--max-time", "10", "--resolve", `${name}:${httpPort}:127.0.0.1`, "-o", "-", "-w", "\n%{http_code} %{redirect_url}", "--", `http://${name}:${httpPort}${path}`],
    { stdout: "pipe", stderr: "pipe" },
  );
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`curl failed: ${err}`);
  const cut = out.lastIndexOf("\n");
  const [status, location = ""] = out.slice(cut + 1).split(" ");
  return { status: Number(status), location, body: out.slice(0, cut) };
}

/** The certificate served for an SNI name, parsed. */
async function servedCertificate(name: string): Promise<X509Certificate> {
  const client = Bun.spawn(["openssl", "s_client", "-connect", `127.0.0.1:${httpsPort}`, "-servername", name], { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
  const out = await new Response(client.stdout).text();
  await client.exited;
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(out)?.[0];
  if (!pem) throw new Error(`no certificate served for ${name}`);
  return new X509Certificate(pem);
}

interface DomainRow {
  domain: string;
  custom: boolean;
  certificate: { state: string; source: string | null; expires_at: string | null; last_error: string | null };
}

async function domainsOf(user: CliUser): Promise<DomainRow[]> {
  return JSON.parse(await user.ok(["domains", "-a", APP, "--json"]));
}

async function certificateOf(name: string): Promise<DomainRow["certificate"] | undefined> {
  return (await domainsOf(owner)).find((d) => d.domain === name)?.certificate;
}

async function untilIssued(name: string, what = `a certificate for ${name}`): Promise<void> {
  await until(async () => (await certificateOf(name))?.state === "issued", 90_000, what);
  // Issued, then served once the HTTPS server is swapped (a few hundred ms later).
  await until(async () => (await curl({ name, port: httpsPort, caFile: rootFile })).code === 0, 10_000, `${name} served`);
}

beforeAll(async () => {
  dir = tempDir("https-e2e");
  httpPort = freePort();
  httpsPort = freePort();
  // Pebble validates HTTP-01 on the daemon's HTTP port; its nonce rejections stay on (acme-client retries them).
  pebble = await startPebble({ httpPort });
  const directoryCa = join(dir, "pebble-directory-ca.pem");
  writeFileSync(directoryCa, pebble.directoryCa);
  daemon = await startDaemon({
    httpPort,
    httpsPort,
    args: ["--controller-host", CONTROLLER, "--acme-directory", pebble.directoryUrl, "--acme-email", "ops@example.test"],
    // The daemon trusts Pebble's own HTTPS (the directory), as an operator would add a private CA.
    env: { NODE_EXTRA_CA_CERTS: directoryCa },
  });
  rootFile = join(dir, "pebble-root.pem");
  writeFileSync(rootFile, await pebble.root());
  proxy = startLoopbackProxy([CONTROLLER]);
  owner = new CliUser(apiUrl(), cliEnv());
}, 60_000);

afterAll(async () => {
  if (owner) await owner.run(["apps:destroy", "-a", APP, "--confirm", APP]);
  const code = await daemon?.stop();
  if (code !== undefined && code !== 0) console.error(daemon.log());
  removeAppContainers(APP);
  proxy?.stop();
  await pebble?.stop();
  owner?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 2 * 60_000);

describe("HTTPS through the daemon, against Pebble", () => {
  test("the controller host gets a certificate, and the CLI talks to the API over https://<controller-host>", async () => {
    // Pebble's validation sleeps (left on) and acme-client's back-off make this take up to a minute under load.
    await until(async () => (await curl({ name: CONTROLLER, port: httpsPort, caFile: rootFile, path: "/api/health" })).code === 0, 100_000, "the controller's certificate").catch((err) => {
      throw new Error(`${(err as Error).message}; the daemon's TLS lines:\n${daemon.log().split("\n").filter((l) => /tls|acme/i.test(l)).slice(-20).join("\n")}`);
    });
    const health = await curl({ name: CONTROLLER, port: httpsPort, caFile: rootFile, path: "/api/health" });
    expect(JSON.parse(health.stdout)).toMatchObject({ ok: true });
    const cert = await servedCertificate(CONTROLLER);
    expect(cert.subjectAltName).toBe(`DNS:${CONTROLLER}`);
    expect(cert.issuer).toContain("Pebble");

    // The first account over the local socket; the key is stored for the controller's name.
    const signup = await owner.run(["signup", "--email", "owner@example.com", "--socket", daemon.socket], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
    expect(signup.code).toBe(0);
    expect(readFileSync(join(owner.home, ".netrc"), "utf8")).toStartWith(`machine ${CONTROLLER}\n`);
    // Then over HTTPS: a POST (login) and a GET.
    const login = await owner.run(["login", "--email", "owner@example.com", "--password-stdin"], { stdin: "correct horse\n" });
    expect({ code: login.code, stderr: login.stderr }).toMatchObject({ code: 0 });
    expect(JSON.parse(await owner.ok(["account", "--json"]))).toMatchObject({ email: "owner@example.com", admin: true });
    expect(proxy.tunnels).toContain(`${CONTROLLER}:${httpsPort}`);

    // The trust is real: without Pebble's root the CLI refuses the server's certificate.
    const untrusted = await owner.run(["account"], { env: { NODE_EXTRA_CA_CERTS: join(dir, "pebble-directory-ca.pem") } });
    expect(untrusted.code).toBe(6);
    expect(untrusted.stderr).toContain(`cannot reach the Beamstalk server at ${apiUrl()}`);
    // Plain HTTP on the controller's name now redirects to HTTPS, keeping method and path (308).
    const http = await curlHttp(CONTROLLER, "/api/health");
    expect(http.status).toBe(308);
    expect(http.location).toBe(`${apiUrl()}/api/health`);
  }, LONG);

  test("git push over HTTPS to the controller host deploys the app, which is then served over HTTPS at <app>.<base-domain>", async () => {
    fixture = await createFixtureApp(owner, APP);
    const remote = (await fixture.git(["remote", "get-url", "beamstalk"])).out.trim();
    expect(remote).toBe(`${apiUrl()}/${APP}.git`);
    // git reaches the name through curl's --resolve, trusts Pebble's root, and reads the key from ~/.netrc.
    const push = await fixture.git(["-c", `http.curloptResolve=${CONTROLLER}:${httpsPort}:127.0.0.1`, "-c", `http.sslCAInfo=${rootFile}`, "push", "beamstalk", "main"]);
    expect({ code: push.code, err: push.code === 0 ? "" : push.err }).toEqual({ code: 0, err: "" });
    expect(push.err).toContain(`remote: -----> ${APP} v1 is live at`);

    await untilIssued(`${APP}.apps.test`);
    const res = await curl({ name: `${APP}.apps.test`, port: httpsPort, caFile: rootFile });
    expect(res).toMatchObject({ code: 0, stdout: "hello v1\n" });
  }, LONG);

  test("domains:add gets a certificate: issued with its expiry in `domains`, served by SNI; HTTP redirects with 308, ACME challenges do not", async () => {
    await owner.ok(["domains:add", DOMAIN, "-a", APP]);
    await untilIssued(DOMAIN);
    const row = await certificateOf(DOMAIN);
    expect(row).toMatchObject({ state: "issued", source: "acme", last_error: null });
    const cert = await servedCertificate(DOMAIN);
    expect(cert.subjectAltName).toBe(`DNS:${DOMAIN}`);
    expect(new Date(cert.validTo).toISOString()).toBe(row!.expires_at!);
    // The human table shows the state and the same expiry.
    const table = await owner.ok(["domains", "-a", APP]);
    expect(table).toMatch(new RegExp(`^${DOMAIN.replaceAll(".", "\\.")}\\s+${row!.expires_at!.replaceAll(".", "\\.")}\\s+issued$`, "m"));

    // Served by SNI: each name gets its own certificate, verified by curl against Pebble's root.
    expect((await curl({ name: DOMAIN, port: httpsPort, caFile: rootFile })).stdout).toBe("hello v1\n");
    expect(await servedSerial(DOMAIN, httpsPort)).not.toBe(await servedSerial(`${APP}.apps.test`, httpsPort));

    const redirect = await curlHttp(DOMAIN, "/env/APP_NAME?x=1");
    expect(redirect.status).toBe(308);
    expect(redirect.location).toBe(`https://${DOMAIN}:${httpsPort}/env/APP_NAME?x=1`);
    // Following it lands on the app over HTTPS.
    const followed = await curl({ name: DOMAIN, port: httpsPort, caFile: rootFile, path: "/env/APP_NAME" });
    expect(followed.stdout).toBe(APP);
    // An ACME challenge is answered on HTTP, never redirected (an unknown token is a 404).
    const challenge = await curlHttp(DOMAIN, "/.well-known/acme-challenge/no-such-token");
    expect(challenge).toEqual({ status: 404, location: "", body: "no such challenge\n" });
  }, LONG);

  test("certs:renew orders a new certificate and answers once it is served; a refused order exits 1 with the CA's reason and the old one keeps serving", async () => {
    const before = await servedSerial(DOMAIN, httpsPort);
    const renewed = await owner.run(["certs:renew", DOMAIN, "-a", APP, "--json"]);
    expect({ code: renewed.code, stderr: renewed.stderr }).toEqual({ code: 0, stderr: "" });
    expect(JSON.parse(renewed.stdout)).toMatchObject({ domain: DOMAIN, state: "issued", source: "acme", last_error: null });
    // Answered when done: the very next handshake gets the new certificate.
    const after = await servedSerial(DOMAIN, httpsPort);
    expect(after).not.toBe(before);
    expect((await curl({ name: DOMAIN, port: httpsPort, caFile: rootFile })).stdout).toBe("hello v1\n");

    // Pebble's DNS now fails for the name: validation fails, and says so.
    await pebble.servfail(DOMAIN, true);
    let held = after;
    try {
      // Pebble skips validation when it reuses a valid authorization, which it still does about 1% of the
      // time with PEBBLE_AUTHZREUSE=0 (it makes a new one only when rand.Intn(100) > 0): then a second try.
      let refused = await owner.run(["certs:renew", DOMAIN, "-a", APP]);
      if (refused.code === 0) {
        held = await servedSerial(DOMAIN, httpsPort);
        refused = await owner.run(["certs:renew", DOMAIN, "-a", APP]);
      }
      expect({ code: refused.code, stderr: refused.stderr }).toMatchObject({ code: 1 });
      expect(refused.stderr).toStartWith(`error: ordering a certificate for ${DOMAIN} failed: `);
      // Pebble's own words: the validation could not resolve the name.
      expect(refused.stderr).toContain(`could not resolve URL "http://${DOMAIN}:${httpPort}/.well-known/acme-challenge/`);
      expect(refused.stderr).toContain("the previous certificate keeps serving");
      expect(refused.stderr).toContain("hint: ");
      // It does: the same certificate, still verified.
      expect(await servedSerial(DOMAIN, httpsPort)).toBe(held);
      expect((await curl({ name: DOMAIN, port: httpsPort, caFile: rootFile })).stdout).toBe("hello v1\n");
      expect(await certificateOf(DOMAIN)).toMatchObject({ state: "failed", last_error: expect.stringContaining("could not resolve") });
      const table = await owner.ok(["domains", "-a", APP]);
      expect(table).toContain("failed (previous certificate still serving): ");
    } finally {
      await pebble.servfail(DOMAIN, false);
    }
    // Fixed: renewing again works at once, without waiting out the back-off.
    expect(JSON.parse(await owner.ok(["certs:renew", DOMAIN, "-a", APP, "--json"]))).toMatchObject({ state: "issued", last_error: null });
    expect(await servedSerial(DOMAIN, httpsPort)).not.toBe(held);
  }, LONG);

  test("certs:add serves your own certificate; certs:remove hands the domain back to automatic TLS, and replaces an ACME one", async () => {
    // Your own certificate (self-signed here: no client trusts it, which shows it is the one served).
    const own = join(dir, "own");
    const made = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${own}.key`, "-out", `${own}.pem`, "-days", "30", "-subj", `/CN=${DOMAIN}`, "-addext", `subjectAltName=DNS:${DOMAIN}`], { stderr: "ignore" });
    expect(made.exitCode).toBe(0);
    const ownSerial = new X509Certificate(readFileSync(`${own}.pem`)).serialNumber;
    const added = await owner.run(["certs:add", DOMAIN, "--cert", `${own}.pem`, "--key", `${own}.key`, "-a", APP]);
    expect(added.code).toBe(0);
    expect(added.stderr + added.stdout).not.toContain("PRIVATE KEY");
    await until(async () => (await servedSerial(DOMAIN, httpsPort)) === ownSerial, 10_000, "own certificate served");
    expect(await certificateOf(DOMAIN)).toMatchObject({ state: "issued", source: "manual" });
    // A manual certificate is not ACME's to renew: a conflict (exit 5) that says what to do.
    const conflict = await owner.run(["certs:renew", DOMAIN, "-a", APP]);
    expect(conflict.code).toBe(5);
    expect(conflict.stderr).toBe(
      `error: ${DOMAIN} has a manual certificate, which is not renewed by ACME\nhint: install a new one with \`beamstalk certs:add\`, or \`beamstalk certs:remove\` it to go back to automatic certificates\n`,
    );

    const removed = await owner.run(["certs:remove", DOMAIN, "-a", APP, "--json"]);
    expect(removed.code).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ domain: DOMAIN, state: "pending", source: "acme" });
    await untilIssued(DOMAIN, "automatic TLS to take the domain back");
    const acmeSerial = await servedSerial(DOMAIN, httpsPort);
    expect(acmeSerial).not.toBe(ownSerial);
    expect(await certificateOf(DOMAIN)).toMatchObject({ state: "issued", source: "acme" });

    // An ACME certificate removed (its key leaked, say) is replaced by a new order.
    const again = await owner.run(["certs:remove", DOMAIN, "-a", APP]);
    expect(again).toMatchObject({ code: 0, stdout: "" });
    expect(again.stderr).toContain("A new one is being ordered over ACME");
    await untilIssued(DOMAIN, "a new ACME certificate");
    expect(await servedSerial(DOMAIN, httpsPort)).not.toBe(acmeSerial);
  }, LONG);

  test("certs:renew and certs:remove refuse bad input: an unknown domain, another user's app (like a missing one), a viewer", async () => {
    const invite = async (email: string) => JSON.parse(await owner.ok(["invites:create", email, "--json"])).code as string;
    const viewer = new CliUser(apiUrl(), cliEnv());
    const stranger = new CliUser(apiUrl(), cliEnv());
    try {
      for (const [user, email] of [[viewer, "viewer@example.com"], [stranger, "stranger@example.com"]] as const) {
        await user.ok(["signup", "--email", email], { env: { BEAMSTALK_PASSWORD: "battery staple", BEAMSTALK_INVITE: await invite(email) } });
      }
      await owner.ok(["access:add", "viewer@example.com", "--role", "viewer", "-a", APP]);
      const before = await servedSerial(DOMAIN, httpsPort);

      for (const command of ["certs:renew", "certs:remove"]) {
        const unknown = await owner.run([command, "nope.example.test", "-a", APP]);
        expect(unknown.code).toBe(4);
        expect(unknown.stderr).toStartWith(`error: nope.example.test is not a domain of ${APP}\n`);
        const theirs = await stranger.run([command, DOMAIN, "-a", APP]);
        const missing = await stranger.run([command, DOMAIN, "-a", `${APP}-missing`]);
        expect(theirs.code).toBe(4);
        expect(theirs.stderr).toStartWith(`error: app ${APP} not found\n`);
        expect(missing.stderr).toStartWith(`error: app ${APP}-missing not found\n`);
        const refused = await viewer.run([command, DOMAIN, "-a", APP]);
        expect(refused.code).toBe(4);
        expect(refused.stderr).toStartWith(`error: your viewer access to ${APP} does not allow this\n`);
        const usage = await owner.run([command, "-a", APP]);
        expect(usage.code).toBe(2);
      }
      // Nothing changed: the same certificate serves, still issued.
      expect(await servedSerial(DOMAIN, httpsPort)).toBe(before);
      expect(await certificateOf(DOMAIN)).toMatchObject({ state: "issued", source: "acme" });
      // The viewer can still read the domains and their certificates.
      expect((await domainsOf(viewer)).map((d) => d.domain)).toEqual([`${APP}.apps.test`, DOMAIN]);
      // No key material anywhere in the daemon's log.
      expect(daemon.log()).not.toContain("PRIVATE KEY");
    } finally {
      viewer.cleanup();
      stranger.cleanup();
    }
  }, LONG);
});
