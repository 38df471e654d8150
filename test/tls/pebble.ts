import type { Subprocess } from "bun";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A real Pebble ACME server and its DNS (pebble-challtestsrv answering 127.0.0.1 for every name), on loopback. */
export interface Pebble {
  directoryUrl: string;
  /** PEM of the CA that signed Pebble's own HTTPS certificate: what clients trust for the directory. */
  directoryCa: string;
  /** The root that issues certificates (changes at every start), fetched from the management port. */
  root(): Promise<string>;
  /** Makes pebble-challtestsrv answer SERVFAIL for a name (validation then fails without any traffic), or stop doing so. */
  servfail(host: string, on: boolean): Promise<void>;
  dir: string;
  stop(): Promise<void>;
}

export interface PebbleOptions {
  /** The port HTTP-01 validation connects to: the router's HTTP port. */
  httpPort: number;
  /** Seconds a certificate is valid. */
  validitySeconds?: number;
  /** Pebble's chaos: nonce rejections stay ON unless set to false here (then PEBBLE_WFE_NONCEREJECT=0). */
  nonceRejections?: boolean;
  /** Pebble's random validation sleeps (off by default for speed). */
  sleeps?: boolean;
}

/** A port below 32768 nothing listens on right now (the ephemeral range starts at 32768 here). */
export function freePort(): number {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      const probe = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
      probe.stop(true);
      return port;
    } catch {
      // taken: try another
    }
  }
  throw new Error("no free port below 32768");
}

async function run(argv: string[], cwd: string): Promise<void> {
  const proc = Bun.spawn(argv, { cwd, stdout: "ignore", stderr: "pipe" });
  if ((await proc.exited) !== 0) throw new Error(`${argv[0]} failed: ${await new Response(proc.stderr).text()}`);
}

/** Stops a child we started: SIGTERM, poll, then SIGKILL (Pebble once ignored its first SIGTERM). */
export async function stopProcess(proc: Subprocess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill("SIGTERM");
  const deadline = Date.now() + 3_000;
  while (proc.exitCode === null && proc.signalCode === null && Date.now() < deadline) await Bun.sleep(50);
  if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  await proc.exited;
}

export async function startPebble(options: PebbleOptions): Promise<Pebble> {
  const dir = mkdtempSync(join(tmpdir(), "beamstalk-pebble-"));
  // Pebble's own HTTPS: a CA and a localhost/127.0.0.1 leaf (the Debian package ships none).
  await run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=pebble test ca"], dir);
  await run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "key.pem", "-out", "leaf.csr", "-subj", "/CN=localhost"], dir);
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  await run(["openssl", "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "ext.cnf"], dir);
  const directoryCa = await Bun.file(join(dir, "ca.pem")).text();

  const dnsPort = freePort();
  const dnsMgmt = freePort();
  const challtest = Bun.spawn(
    ["pebble-challtestsrv", "-dns01", `127.0.0.1:${dnsPort}`, "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", `127.0.0.1:${dnsMgmt}`, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""],
    { cwd: dir, stdout: "ignore", stderr: "ignore" },
  );

  const port = freePort();
  const mgmt = freePort();
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${port}`,
      managementListenAddress: `127.0.0.1:${mgmt}`,
      certificate: join(dir, "cert.pem"),
      privateKey: join(dir, "key.pem"),
      httpPort: options.httpPort,
      tlsPort: freePort(),
      ocspResponderURL: "",
      externalAccountBindingRequired: false,
      ...(options.validitySeconds ? { certificateValidityPeriod: options.validitySeconds } : {}),
    },
  };
  writeFileSync(join(dir, "pebble.json"), JSON.stringify(config));
  const env: Record<string, string> = { ...(process.env as Record<string, string>), PEBBLE_AUTHZREUSE: "0" };
  if (!options.sleeps) env.PEBBLE_VA_NOSLEEP = "1";
  if (options.nonceRejections === false) env.PEBBLE_WFE_NONCEREJECT = "0";
  const pebble = Bun.spawn(["pebble", "-config", join(dir, "pebble.json"), "-dnsserver", `127.0.0.1:${dnsPort}`], { cwd: dir, env, stdout: "ignore", stderr: "pipe" });

  const tls = { ca: directoryCa };
  const directoryUrl = `https://127.0.0.1:${port}/dir`;
  // Pebble logs "Listening on" before it binds: wait for the directory itself.
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const res = await fetch(directoryUrl, { tls });
      if (res.ok) break;
    } catch {
      // not yet
    }
    if (Date.now() > deadline || pebble.exitCode !== null) {
      await stopProcess(pebble);
      await stopProcess(challtest);
      throw new Error(`pebble did not start: ${await new Response(pebble.stderr).text()}`);
    }
    await Bun.sleep(100);
  }

  return {
    directoryUrl,
    directoryCa,
    dir,
    root: async () => (await fetch(`https://127.0.0.1:${mgmt}/roots/0`, { tls })).text(),
    async servfail(host, on) {
      const res = await fetch(`http://127.0.0.1:${dnsMgmt}/${on ? "set" : "clear"}-servfail`, { method: "POST", body: JSON.stringify({ host }) });
      if (!res.ok) throw new Error(`pebble-challtestsrv: ${res.status} ${await res.text()}`);
    },
    async stop() {
      await stopProcess(pebble);
      await stopProcess(challtest);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** curl over HTTPS to name:port pinned to 127.0.0.1, trusting only `caFile`; gives the body, or throws with curl's error. */
export async function curl(args: { name: string; port: number; caFile: string; path?: string; extra?: string[] }): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(
    ["curl", "-sS", "--max-time", "10", "--cacert", args.caFile, "--resolve", `${args.name}:${args.port}:127.0.0.1`, ...(args.extra ?? []), "--", `https://${args.name}:${args.port}${args.path ?? "/"}`],
    { stdout: "pipe", stderr: "pipe" },
  );
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** The serial number of the certificate served for an SNI name (openssl s_client). */
export async function servedSerial(name: string, port: number): Promise<string> {
  const client = Bun.spawn(["openssl", "s_client", "-connect", `127.0.0.1:${port}`, "-servername", name], { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
  const out = await new Response(client.stdout).text();
  await client.exited;
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(out)?.[0];
  if (!pem) return "";
  return new (await import("node:crypto")).X509Certificate(pem).serialNumber;
}
