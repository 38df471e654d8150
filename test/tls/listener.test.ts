/**
 * The HTTPS listener on its own (no ACME): certificates by SNI on Bun's native
 * socket, swapped while running without touching open connections.
 */
import { afterEach, beforeAll, expect, test } from "bun:test";
import { connect, type TLSSocket } from "node:tls";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import { createRouter } from "../../src/router/index.ts";
import { selfSignedFallback } from "../../src/tls/fallback-cert.ts";
import { HttpsListener } from "../../src/tls/listener.ts";
import { startUpstream, stopAll } from "../router/support.ts";

type Pems = { cert: string; key: string };
let fallback: Pems;
let first: Pems;
let second: Pems;
beforeAll(async () => {
  const made = await Promise.all([selfSignedFallback("fallback.invalid"), selfSignedFallback("a.test first"), selfSignedFallback("a.test second")]);
  if (made.some((pems) => pems === null)) throw new Error("openssl is needed for these tests");
  [fallback, first, second] = made as [Pems, Pems, Pems];
});

const listeners: HttpsListener[] = [];
afterEach(async () => {
  for (const l of listeners.splice(0)) await l.stop(100);
  await stopAll();
});

function start() {
  const logger = createMemoryLogger();
  const router = createRouter({ logger, fallback: () => new Response("controller") });
  const up = startUpstream("web", (req) => new Response(`${req.headers.get("x-forwarded-proto")} ${new URL(req.url).pathname}`));
  router.setRoute("web", ["a.test"], [up.backend]);
  const listener = new HttpsListener({ hostname: "127.0.0.1", port: 0, entrance: router.entrance, logger });
  listeners.push(listener);
  return listener;
}

/** A TLS connection with `servername` (none when null); its certificate's CN and a keep-alive GET helper. */
async function open(port: number, servername: string | null) {
  const socket: TLSSocket = await new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ...(servername ? { servername } : {}) }, () => resolve(s));
    s.on("error", reject);
  });
  let text = "";
  socket.on("data", (d: Buffer) => (text += d.toString()));
  return {
    cn: (socket.getPeerCertificate().subject as { CN: string }).CN,
    async get(path: string): Promise<string> {
      text = "";
      socket.write(`GET ${path} HTTP/1.1\r\nHost: a.test\r\n\r\n`);
      for (let i = 0; i < 100 && !/\r\n\r\n[\s\S]*\S$/.test(text); i++) await Bun.sleep(20);
      return text.slice(text.indexOf("\r\n\r\n") + 4);
    },
    close: () => socket.destroy(),
  };
}

test("runs on Bun's native socket; SNI picks the certificate; unknown names and no SNI get the first entry", async () => {
  const listener = start();
  listener.serve([
    { serverName: "fallback.invalid", ...fallback },
    { serverName: "A.Test", ...first },
  ]);
  expect(listener.native).toBe(true);
  const a = await open(listener.port!, "a.test");
  expect(a.cn).toBe("a.test first");
  expect(await a.get("/x")).toBe("https /x");
  a.close();
  expect((await open(listener.port!, "other.test")).cn).toBe("fallback.invalid");
  expect((await open(listener.port!, null)).cn).toBe("fallback.invalid");
});

test("a new certificate serves the next handshake while an open connection keeps working; a dropped name falls back", async () => {
  const listener = start();
  listener.serve([
    { serverName: "fallback.invalid", ...fallback },
    { serverName: "a.test", ...first },
  ]);
  const port = listener.port!;
  const before = await open(port, "a.test");
  expect(await before.get("/1")).toBe("https /1");

  listener.serve([
    { serverName: "fallback.invalid", ...fallback },
    { serverName: "a.test", ...second },
  ]);
  expect(listener.port).toBe(port);
  expect((await open(port, "a.test")).cn).toBe("a.test second");
  expect(await before.get("/2")).toBe("https /2"); // same connection, same old certificate, not dropped
  expect(before.cn).toBe("a.test first");

  listener.serve([{ serverName: "fallback.invalid", ...fallback }]);
  expect((await open(port, "a.test")).cn).toBe("fallback.invalid");
  before.close();
});

test("no entries closes the listener; serving again listens on the same port", async () => {
  const listener = start();
  listener.serve([{ serverName: "fallback.invalid", ...fallback }]);
  const port = listener.port!;
  listener.serve([]);
  expect(listener.listening).toBe(false);
  await expect(open(port, "a.test")).rejects.toThrow();
  listener.serve([
    { serverName: "fallback.invalid", ...fallback },
    { serverName: "a.test", ...second },
  ]);
  expect(listener.port).toBe(port);
  const again = await open(port, "a.test");
  expect(again.cn).toBe("a.test second");
  expect(await again.get("/back")).toBe("https /back");
  again.close();
});
