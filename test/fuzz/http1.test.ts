import { afterAll, expect, test } from "bun:test";
import { ChunkedDecoder } from "../../src/router/chunked.ts";
import { HttpParseError, parseRequestHead, parseResponseHead } from "../../src/router/http1.ts";
import { fuzz, mutate, type Rng } from "../support/fuzz.ts";
import { rawConnection, startRouter, startUpstream, stopAll } from "../router/support.ts";

afterAll(stopAll);

/** What a reject may answer: a 4xx, or the RFC's own 501 (unknown transfer coding) and 505 (HTTP version). */
const REJECT = (status: number) => (status >= 400 && status < 500) || status === 501 || status === 505;

const REQUESTS = [
  "GET / HTTP/1.1\r\nHost: web.test",
  "POST /submit?x=1 HTTP/1.1\r\nHost: web.test\r\nContent-Length: 5\r\nContent-Type: text/plain",
  "POST /up HTTP/1.1\r\nHost: web.test\r\nTransfer-Encoding: chunked",
  "GET /ws HTTP/1.1\r\nHost: web.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13",
  "GET /old HTTP/1.0\r\nHost: web.test\r\nConnection: keep-alive",
  "OPTIONS * HTTP/1.1\r\nHost: web.test",
  "GET http://web.test/abs HTTP/1.1\r\nHost: web.test",
  "PUT /p HTTP/1.1\r\nHost: web.test\r\nConnection: close, x-drop\r\nX-Drop: 1\r\nX-Forwarded-For: 10.0.0.1\r\nContent-Length: 0",
];

const HEADER_BITS = [
  "\r\nContent-Length: 3",
  "\r\nContent-Length: 3, 3",
  "\r\nContent-Length: -1",
  "\r\nContent-Length: 99999999999999999999",
  "\r\nTransfer-Encoding: chunked",
  "\r\nTransfer-Encoding: gzip, chunked",
  "\r\nTransfer-Encoding : chunked",
  "\r\nTransfer-Encoding: chunked\xa0",
  "\r\nHost: other.test",
  "\r\n folded",
  "\r\nConnection: content-length",
  "\r\nX-Forwarded-For: 1.2.3.4",
  "\r\n\r\n",
  "\r\n",
  "\n",
  "\r",
  " HTTP/1.1",
  "\0",
];

function requestInput(rng: Rng): string {
  if (rng.chance(0.1)) return rng.bytes(rng.int(200)).toString("latin1");
  let bytes: Buffer = Buffer.from(rng.pick(REQUESTS), "latin1");
  for (let i = 1 + rng.int(4); i > 0; i--) bytes = mutate(rng, bytes, HEADER_BITS);
  return bytes.toString("latin1");
}

/** Parses, and checks what the front would do with the result; returns the head or the rejection's status. */
function checkRequest(text: string): number | ReturnType<typeof parseRequestHead> {
  let head;
  try {
    head = parseRequestHead(text);
  } catch (error) {
    if (!(error instanceof HttpParseError)) throw new Error(`${String(error)} for ${JSON.stringify(text)}`);
    if (!REJECT(error.status)) throw new Error(`status ${error.status} for ${JSON.stringify(text)}`);
    return error.status;
  }
  // What the front forwards must be clean header lines, and parse upstream to the same framing (no smuggling).
  expect(head.headers).not.toMatch(/\r(?!\n)|(?<!\r)\n|\0/);
  if (head.body === "length") expect(Number.isSafeInteger(head.length) && head.length >= 0).toBe(true);
  if (head.target !== null) expect(head.target).toMatch(/^\/[\x21-\x7e]*$/);
  if (head.target !== null && head.minor === 1) {
    const again = parseRequestHead(`${head.method} ${head.target} HTTP/1.1${head.headers}\r\nx-forwarded-for: 127.0.0.1`);
    expect([again.body, again.length, again.host]).toEqual([head.body, head.length, head.host]);
  }
  return head;
}

test("request heads: random and mutated input never throws anything but a 4xx HttpParseError, and what parses forwards cleanly", async () => {
  let slowest = 0;
  let parsed = 0;
  const n = await fuzz("http1 request heads", (rng) => {
    const text = requestInput(rng);
    const t = performance.now();
    if (typeof checkRequest(text) !== "number") parsed++;
    slowest = Math.max(slowest, performance.now() - t);
  });
  console.log(`  ${parsed} parsed, ${n - parsed} refused; slowest ${slowest.toFixed(2)} ms`);
  expect(n).toBeGreaterThan(1000);
  // Both sides are exercised: a corpus that only ever parsed (or never) would test little.
  expect(parsed).toBeGreaterThan(n / 50);
  expect(parsed).toBeLessThan(n);
  // A hang (or a regex that backtracks) would take far longer; GC pauses on a loaded machine take some tens of ms.
  expect(slowest).toBeLessThan(500);
});

test("response heads: random and mutated input never throws anything but HttpParseError", async () => {
  const responses = ["HTTP/1.1 200 OK\r\nContent-Length: 5", "HTTP/1.1 204 No Content", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade"];
  const n = await fuzz("http1 response heads", (rng) => {
    let bytes: Buffer = Buffer.from(rng.pick(responses), "latin1");
    for (let i = 1 + rng.int(4); i > 0; i--) bytes = mutate(rng, bytes, HEADER_BITS);
    const text = bytes.toString("latin1");
    try {
      const head = parseResponseHead(text, rng.pick(["GET", "HEAD", "POST"]));
      expect(head.head).not.toMatch(/\r(?!\n)|(?<!\r)\n|\0/);
      if (head.body === "length") expect(Number.isSafeInteger(head.length)).toBe(true);
    } catch (error) {
      if (!(error instanceof HttpParseError)) throw new Error(`${String(error)} for ${JSON.stringify(text)}`);
    }
  });
  expect(n).toBeGreaterThan(1000);
});

/** Where a chunked body ends when fed in the given pieces: an offset, "more" (not ended), or "bad". */
function chunkedEnd(bytes: Buffer, cuts: number[]): number | "more" | "bad" {
  const d = new ChunkedDecoder();
  let at = 0;
  try {
    for (const cut of [...cuts, bytes.length]) {
      if (cut <= at) continue;
      const end = d.feed(bytes.subarray(at, cut));
      if (end >= 0) return at + end;
      at = cut;
    }
  } catch (error) {
    if (!(error instanceof HttpParseError)) throw error;
    return "bad";
  }
  return "more";
}

test("chunked bodies: the same answer whether fed whole or in random pieces; only HttpParseError is thrown", async () => {
  const bodies = ["5\r\nhello\r\n0\r\n\r\n", "a;ext=1\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nGET / HTTP/1.1\r\n", "0\r\n\r\n", "1f\r\n" + "x".repeat(31) + "\r\n0\r\n\r\n"];
  const n = await fuzz("chunked decoder", (rng) => {
    let bytes: Buffer = rng.chance(0.1) ? rng.bytes(rng.int(64)) : Buffer.from(rng.pick(bodies), "latin1");
    for (let i = rng.int(4); i > 0; i--) bytes = mutate(rng, bytes, ["\r\n", "0\r\n\r\n", "ffffffffffffffff\r\n", ";", "\n"]);
    const cuts = Array.from({ length: rng.int(6) }, () => rng.int(bytes.length + 1)).sort((a, b) => a - b);
    const whole = chunkedEnd(bytes, []);
    const pieces = chunkedEnd(bytes, cuts);
    if (whole !== pieces) throw new Error(`whole ${whole} vs pieces ${pieces} (cuts ${cuts}) for ${JSON.stringify(bytes.toString("latin1"))}`);
  });
  expect(n).toBeGreaterThan(1000);
});

test("through the real front over sockets: every answer is the app's, the slow path's, or a reject (4xx) on a closed connection; the front keeps serving", async () => {
  const r = startRouter();
  const up = startUpstream("web");
  r.router.setRoute("web", ["web.test"], [up.backend]);
  const seen = new Map<number, number>();
  let inputs = 0;
  await fuzz(
    "http1 through the front",
    async (rng) => {
      inputs += 16;
      const batch = Array.from({ length: 16 }, () => requestInput(rng) + (rng.chance(0.8) ? "\r\n\r\n" : "") + (rng.chance(0.3) ? "abc\r\n0\r\n\r\n" : ""));
      await Promise.all(
        batch.map(async (input) => {
          const c = await rawConnection(r.port);
          c.write(input);
          await Promise.race([c.closed, Bun.sleep(400)]);
          const status = /^HTTP\/1\.1 (\d{3}) /.exec(c.received)?.[1];
          if (status !== undefined) seen.set(Number(status), (seen.get(Number(status)) ?? 0) + 1);
          const fromFront = c.received.includes("content-type: text/plain; charset=utf-8\r\ncache-control: no-store");
          if (status !== undefined && fromFront && Number(status) >= 400) {
            if (!REJECT(Number(status))) throw new Error(`the front answered ${status} to ${JSON.stringify(input)}`);
            await Promise.race([c.closed, Bun.sleep(1_000)]);
            if (!c.isClosed) throw new Error(`a ${status} left the connection open, for ${JSON.stringify(input)}`);
          }
          if (status !== undefined && Number(status) >= 500 && !REJECT(Number(status))) throw new Error(`${status} for ${JSON.stringify(input)}: ${c.received.slice(0, 300)}`);
          c.end();
        }),
      );
    },
    { ms: Math.max(1_500, Number(process.env.FUZZ_MS ?? 3_000)), unit: "batches of 16 connections" },
  );
  console.log(`  ${inputs} inputs over sockets; statuses seen: ${JSON.stringify(Object.fromEntries(seen))}`);
  expect(inputs).toBeGreaterThan(40);
  const ok = await fetch(`${r.url}/after`, { headers: { host: "web.test" } });
  expect(ok.status).toBe(200);
});
