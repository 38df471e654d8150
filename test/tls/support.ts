import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import { createRouter, type Router } from "../../src/router/index.ts";
import { Certificates } from "../../src/state/certificates.ts";
import { Cipher } from "../../src/state/crypto.ts";
import { openDatabase } from "../../src/state/db.ts";
import { TlsManager, type TlsManagerOptions } from "../../src/tls/index.ts";
import { type Pebble, type PebbleOptions, startPebble } from "./pebble.ts";

/**
 * The daemon's TLS wiring in miniature: an HTTP listener (challenges, redirects,
 * then the router), Pebble validating against it, and a TlsManager per test
 * serving HTTPS through the same router.
 */
export async function tlsRig(pebbleOptions: Omit<PebbleOptions, "httpPort"> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "beamstalk-tls-"));
  const { db } = openDatabase(join(dir, "state.db"));
  const certificates = new Certificates(db, () => new Date(), new Cipher(randomBytes(32)));
  const logger = createMemoryLogger();
  const router: Router = createRouter({ logger, fallback: () => new Response("controller\n") });
  let front: TlsManager | undefined;
  /** A test can make the HTTP port answer wrong for some names (a failing challenge). */
  const broken = new Set<string>();
  // The HTTP side as the daemon runs it: the front, with challenges and redirects on the slow path.
  const http = router.listen({
    hostname: "127.0.0.1",
    port: 0,
    before: (req) => {
      const host = (req.headers.get("host") ?? "").split(":")[0]!;
      if (broken.has(host)) return new Response("not the answer", { status: 200 });
      return front?.httpFront(req) ?? null;
    },
    bypass: (host, target) => broken.has(host.split(":")[0]!) || (front?.answersHttp(host, target) ?? false),
  });
  const pebble: Pebble = await startPebble({ ...pebbleOptions, httpPort: http.port });
  const rootFile = join(dir, "root.pem");
  const managers: TlsManager[] = [];

  /** ACME options for an account of its own (Pebble reuses valid authorizations per account). */
  const acme = (account = "account") => ({
    directoryUrl: pebble.directoryUrl,
    directoryCa: pebble.directoryCa,
    accountKeyFile: join(dir, "certs", `${account}.key`),
    pollMinMs: 100,
  });

  async function manager(extra: Partial<TlsManagerOptions> = {}): Promise<TlsManager> {
    const tls = new TlsManager({
      certificates,
      logger,
      listen: { hostname: "127.0.0.1", port: 0 },
      entrance: router.entrance,
      acme: acme(),
      backoff: { minMs: 500, maxMs: 4_000 },
      reloadDelayMs: 50,
      ...extra,
    });
    front = tls;
    managers.push(tls);
    await tls.start();
    return tls;
  }

  /** Pebble's issuing root, written where curl can read it. */
  async function root(): Promise<string> {
    writeFileSync(rootFile, await pebble.root());
    return rootFile;
  }

  return {
    dir,
    db,
    certificates,
    logger,
    router,
    http,
    httpUrl: `http://127.0.0.1:${http.port}`,
    pebble,
    broken,
    manager,
    acme,
    root,
    async close() {
      for (const m of managers.splice(0)) await m.stop();
      await http.stop(true);
      await pebble.stop();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` holds, or throws after timeoutMs. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}
