import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { curl, servedSerial } from "./pebble.ts";
import { tlsRig, until } from "./support.ts";

/** Pebble issuing 60-second certificates: renewal falls due after 40 s. */
let rig: Awaited<ReturnType<typeof tlsRig>>;
let upstream: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  rig = await tlsRig({ validitySeconds: 60 });
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, server) {
      if (server.upgrade(req, { data: undefined })) return undefined;
      return new Response(`app ${req.headers.get("host")} proto=${req.headers.get("x-forwarded-proto")}\n`);
    },
    websocket: { message: (ws, msg) => void ws.send(`echo ${msg}`) },
  });
  const backend = { host: "127.0.0.1", port: upstream.port! };
  rig.router.setRoute("web", ["web.apps.test", "bad.example.test"], [backend]);
});
afterAll(async () => {
  await rig?.close();
  await upstream?.stop(true);
});

const serialOf = (pem: string) => new X509Certificate(pem).serialNumber;

function openWss(port: number, ca: string): Promise<WebSocket> {
  const ws = new WebSocket(`wss://127.0.0.1:${port}/socket`, { tls: { ca, serverName: "web.apps.test" }, headers: { host: "web.apps.test" } } as never);
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve(ws);
    ws.onerror = (e) => reject(new Error(`wss failed: ${(e as ErrorEvent).message ?? "error"}`));
  });
}

function echo(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no echo in 5 s")), 5_000);
    ws.addEventListener("message", (e) => {
      clearTimeout(timer);
      resolve(String(e.data));
    }, { once: true });
    ws.send(text);
  });
}

describe("renewal", () => {
  test("a short-lived certificate renews at two thirds of its life and reloads while a WSS through the router stays connected", async () => {
    const tls = await rig.manager();
    tls.ensure(["web.apps.test"]);
    await tls.settle();
    const first = tls.status("web.apps.test");
    expect(first.state).toBe("issued");
    await until(() => rig.logger.lines.some((l) => l.includes("tls.serving") && l.includes("certificates=1")), 5_000, "served");
    const ca = await Bun.file(await rig.root()).text();
    const port = tls.port!;
    const serial1 = await servedSerial("web.apps.test", port);
    expect(serial1).not.toBe("");
    // Renewal is scheduled at notBefore + 2/3 of the lifetime.
    const rec = rig.certificates.get("web.apps.test")!;
    const life = rec.notAfter!.getTime() - rec.notBefore!.getTime();
    expect(Math.abs(rec.nextAttemptAt!.getTime() - (rec.notBefore!.getTime() + (life * 2) / 3))).toBeLessThan(1_000);
    expect(first.next_attempt_at).toBe(rec.nextAttemptAt!.toISOString());

    const ws = await openWss(port, ca);
    let closed = false;
    ws.addEventListener("close", () => (closed = true));
    expect(await echo(ws, "before")).toBe("echo before");

    let n = 0;
    const deadline = Date.now() + 60_000;
    let serial2 = serial1;
    while (serial2 === serial1 && Date.now() < deadline) {
      expect(await echo(ws, `tick ${++n}`)).toBe(`echo tick ${n}`);
      await Bun.sleep(1_000);
      serial2 = await servedSerial("web.apps.test", port);
    }
    expect(serial2).not.toBe(serial1);
    expect(rig.logger.lines.filter((l) => l.includes("tls.issued") && l.includes("web.apps.test"))).toHaveLength(2);
    // The socket opened before the swap is still up and still proxied.
    expect(closed).toBe(false);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(await echo(ws, "after")).toBe("echo after");
    // New handshakes get the new certificate, still trusted by Pebble's root.
    const res = await curl({ name: "web.apps.test", port, caFile: await rig.root() });
    expect(res.stdout).toStartWith("app web.apps.test");
    expect(Date.parse(tls.status("web.apps.test").expires_at!)).toBeGreaterThan(Date.parse(first.expires_at!));
    ws.close();
    await tls.stop();
  }, 120_000);

  test("a failing challenge keeps the old certificate serving and retries with exponential back-off, then recovers", async () => {
    // A first account orders the certificate that will keep serving.
    const first = await rig.manager({ acme: rig.acme("first") });
    first.ensure(["bad.example.test"]);
    await first.settle();
    expect(first.status("bad.example.test")).toMatchObject({ state: "issued", last_error: null });
    await first.stop();
    // A second account renews: Pebble may reuse a valid authorization within one account, not across.
    const tls = await rig.manager({ acme: rig.acme("second"), backoff: { minMs: 500, maxMs: 2_000 } });
    await until(() => tls.port !== undefined, 5_000, "listening");
    const port = tls.port!;
    const serial1 = await servedSerial("bad.example.test", port);
    expect(serial1).toBe(rig.certificates.get("bad.example.test")!.cert ? serialOf(rig.certificates.get("bad.example.test")!.cert!) : "none");
    const caFile = await rig.root();

    // The HTTP port now answers wrong for this name: every order fails validation.
    rig.broken.add("bad.example.test");
    const failedAt: number[] = [];
    const delays: number[] = [];
    const seen = () => rig.logger.lines.filter((l) => l.includes("tls.issue_failed") && l.includes("bad.example.test"));
    const start = seen().length;
    tls.renew("bad.example.test");
    while (seen().length - start < 4) {
      const before = seen().length;
      await until(() => seen().length > before, 15_000, "a failed attempt").catch((err) => {
        throw new Error(`${(err as Error).message}; log: ${rig.logger.lines.slice(-6).join("\n")}`);
      });
      failedAt.push(Date.now());
      delays.push(Number(/retry_in_ms=(\d+)/.exec(seen().at(-1)!)![1]));
      const status = tls.status("bad.example.test");
      expect(status.state).toBe("failed");
      expect(status.last_error).toBeTruthy();
      // The old certificate keeps serving, and verifies.
      expect(await servedSerial("bad.example.test", port)).toBe(serial1);
      expect((await curl({ name: "bad.example.test", port, caFile })).stdout).toStartWith("app bad.example.test");
    }
    // 500 ms, doubling, capped at 2 s; attempts are spaced at least that far apart.
    expect(delays).toEqual([500, 1_000, 2_000, 2_000]);
    for (let i = 1; i < failedAt.length; i++) expect(failedAt[i]! - failedAt[i - 1]!).toBeGreaterThanOrEqual(delays[i - 1]! - 50);
    expect(rig.certificates.get("bad.example.test")!.attempts).toBe(4);
    expect(seen().at(-1)).toContain("serving=true");

    // Fixed: the next retry succeeds, a new certificate serves, the failure count resets.
    rig.broken.delete("bad.example.test");
    await until(() => tls.status("bad.example.test").state === "issued", 15_000, "recovery");
    expect(rig.certificates.get("bad.example.test")!.attempts).toBe(0);
    await until(async () => (await servedSerial("bad.example.test", port)) !== serial1, 5_000, "new certificate served");
  }, 90_000);
});
