import { describe, expect, test } from "bun:test";
import { HttpParseError, parseRequestHead, parseResponseHead } from "./http1.ts";

const head = (...lines: string[]) => lines.join("\r\n");

function refused(text: string): number {
  try {
    parseRequestHead(text);
  } catch (error) {
    if (error instanceof HttpParseError) return error.status;
    throw error;
  }
  throw new Error(`accepted: ${JSON.stringify(text)}`);
}

describe("request heads", () => {
  test("a plain GET: target, host, no body, keep-alive; headers kept in order", () => {
    const r = parseRequestHead(head("GET /a?b=1 HTTP/1.1", "Host: Web.Test:80", "Accept: */*", "Cookie: x=1"));
    expect(r).toMatchObject({ method: "GET", target: "/a?b=1", minor: 1, host: "Web.Test:80", body: "none", close: false, websocket: false, forwardedFor: null });
    expect(r.headers).toBe("\r\nHost: Web.Test:80\r\nAccept: */*\r\nCookie: x=1");
  });

  test("hop-by-hop and X-Forwarded-* are dropped, names listed in Connection too; X-Forwarded-For is kept aside to append to", () => {
    const r = parseRequestHead(
      head(
        "GET / HTTP/1.1",
        "Host: a",
        "Connection: keep-alive, X-Secret",
        "X-Secret: 1",
        "Keep-Alive: 5",
        "TE: trailers",
        "X-Forwarded-For: 1.2.3.4",
        "x-forwarded-for: 5.6.7.8",
        "X-Forwarded-Proto: https",
        "Proxy-Authorization: x",
        "Accept: */*",
      ),
    );
    expect(r.headers).toBe("\r\nHost: a\r\nAccept: */*");
    expect(r.forwardedFor).toBe("1.2.3.4, 5.6.7.8");
  });

  test("Connection cannot remove Host or the framing headers", () => {
    const r = parseRequestHead(head("POST / HTTP/1.1", "Host: a", "Content-Length: 3", "Connection: content-length, host"));
    expect(r.headers).toBe("\r\nHost: a\r\nContent-Length: 3");
    expect(r).toMatchObject({ body: "length", length: 3 });
  });

  test("bodies: Content-Length, chunked, repeated equal lengths sent once, zero is no body", () => {
    expect(parseRequestHead(head("POST / HTTP/1.1", "Host: a", "Content-Length: 12"))).toMatchObject({ body: "length", length: 12 });
    expect(parseRequestHead(head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: Chunked"))).toMatchObject({ body: "chunked" });
    const twice = parseRequestHead(head("POST / HTTP/1.1", "Host: a", "Content-Length: 5", "Content-Length: 5, 5"));
    expect(twice).toMatchObject({ body: "length", length: 5 });
    expect(twice.headers).toBe("\r\nHost: a\r\ncontent-length: 5");
    expect(parseRequestHead(head("POST / HTTP/1.1", "Host: a", "Content-Length: 0"))).toMatchObject({ body: "none" });
  });

  test("Connection: close, HTTP/1.0 closes unless keep-alive, WebSocket upgrades", () => {
    expect(parseRequestHead(head("GET / HTTP/1.1", "Host: a", "Connection: close")).close).toBe(true);
    expect(parseRequestHead(head("GET / HTTP/1.0")).close).toBe(true);
    expect(parseRequestHead(head("GET / HTTP/1.0", "Connection: Keep-Alive")).close).toBe(false);
    const ws = parseRequestHead(head("GET /s HTTP/1.1", "Host: a", "Upgrade: WebSocket", "Connection: keep-alive, Upgrade", "Sec-WebSocket-Key: k"));
    expect(ws.websocket).toBe(true);
    expect(ws.headers).toBe("\r\nHost: a\r\nSec-WebSocket-Key: k");
    expect(parseRequestHead(head("GET /s HTTP/1.1", "Host: a", "Upgrade: h2c", "Connection: Upgrade")).websocket).toBe(false);
  });

  test("absolute-form and asterisk-form targets are not origin-form (the slow path takes them)", () => {
    expect(parseRequestHead(head("GET http://a/ HTTP/1.1", "Host: a")).target).toBeNull();
    expect(parseRequestHead(head("OPTIONS * HTTP/1.1", "Host: a")).target).toBeNull();
  });

  test("smuggling and malformed heads are refused, each with its status", () => {
    expect(refused(head("POST / HTTP/1.1", "Host: a", "Content-Length: 3", "Transfer-Encoding: chunked"))).toBe(400);
    expect(refused(head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "Content-Length: 3"))).toBe(400);
    expect(refused(head("POST / HTTP/1.1", "Host: a", "Content-Length: 3", "Content-Length: 4"))).toBe(400);
    expect(refused(head("POST / HTTP/1.1", "Host: a", "Content-Length: 3, 4"))).toBe(400);
    expect(refused(head("POST / HTTP/1.1", "Host: a", "Content-Length: +3"))).toBe(400);
    expect(refused(head("POST / HTTP/1.1", "Host: a", "Content-Length: 0x10"))).toBe(400);
    expect(refused(head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip, chunked"))).toBe(501);
    expect(refused(head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"))).toBe(501);
    expect(refused(head("POST / HTTP/1.0", "Transfer-Encoding: chunked"))).toBe(400);
    expect(refused(head("GET / HTTP/1.1", "Host: a", "Content-Length : 3"))).toBe(400); // whitespace before the colon
    expect(refused(head("GET / HTTP/1.1", "Host: a", " folded: value"))).toBe(400); // obs-fold
    expect(refused(head("GET / HTTP/1.1", "Host: a", "X: 1\nContent-Length: 3"))).toBe(400); // bare LF
    expect(refused(head("GET / HTTP/1.1", "Host: a", "X: 1\r"))).toBe(400); // bare CR
    expect(refused(head("GET / HTTP/1.1", "Host: a", "X: a\0b"))).toBe(400);
    expect(refused(head("GET / HTTP/1.1", "Host: a", "Host: b"))).toBe(400);
    expect(refused(head("GET / HTTP/1.1", "Accept: */*"))).toBe(400); // HTTP/1.1 without Host
    expect(refused(head("GET / HTTP/1.1", "Host: a", "no colon here"))).toBe(400);
    expect(refused(head("GET  / HTTP/1.1", "Host: a"))).toBe(400);
    expect(refused(head("GET / HTTP/2.0", "Host: a"))).toBe(505);
    expect(refused(head("GET / FOO/1.1", "Host: a"))).toBe(400);
    expect(refused(head("G@T / HTTP/1.1", "Host: a"))).toBe(400);
    expect(refused(head("GET /a\x7fb HTTP/1.1", "Host: a"))).toBe(400);
  });
});

describe("response heads", () => {
  test("an unchanged head is the same string (passed on as the bytes that came)", () => {
    const text = head("HTTP/1.1 200 OK", "Content-Type: text/plain", "Date: x", "Content-Length: 128");
    const r = parseResponseHead(text, "GET");
    expect(r).toMatchObject({ status: 200, body: "length", length: 128, keepAlive: true });
    expect(r.head).toBe(text);
  });

  test("hop-by-hop headers are dropped, names Connection lists too, but never the framing", () => {
    const r = parseResponseHead(head("HTTP/1.1 200 OK", "Connection: close, X-Internal, content-length", "X-Internal: 1", "Keep-Alive: timeout=5", "Content-Length: 2"), "GET");
    expect(r.head).toBe(head("HTTP/1.1 200 OK", "Content-Length: 2"));
    expect(r.keepAlive).toBe(false);
  });

  test("framing: HEAD, 1xx, 204 and 304 have no body; chunked; no length reads until close", () => {
    expect(parseResponseHead(head("HTTP/1.1 200 OK", "Content-Length: 9"), "HEAD").body).toBe("none");
    expect(parseResponseHead("HTTP/1.1 100 Continue", "POST").body).toBe("none");
    expect(parseResponseHead("HTTP/1.1 204 No Content", "GET").body).toBe("none");
    expect(parseResponseHead(head("HTTP/1.1 304 Not Modified", "ETag: x"), "GET").body).toBe("none");
    expect(parseResponseHead(head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked"), "GET")).toMatchObject({ body: "chunked", keepAlive: true });
    expect(parseResponseHead(head("HTTP/1.1 200 OK", "Content-Type: text/plain"), "GET")).toMatchObject({ body: "close", keepAlive: false });
    expect(parseResponseHead(head("HTTP/1.0 200 OK", "Content-Length: 1"), "GET").keepAlive).toBe(false);
    expect(parseResponseHead(head("HTTP/1.0 200 OK", "Content-Length: 1", "Connection: keep-alive"), "GET").keepAlive).toBe(true);
  });

  test("chunked with a length: chunked wins, the length goes, the connection is not reused", () => {
    const r = parseResponseHead(head("HTTP/1.1 200 OK", "Content-Length: 5", "Transfer-Encoding: chunked"), "GET");
    expect(r).toMatchObject({ body: "chunked", keepAlive: false });
    expect(r.head).toBe(head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked"));
  });

  test("malformed answers are refused (the client gets a 502)", () => {
    for (const text of [
      "HTTP/1.1 2000 OK",
      "HTP/1.1 200 OK",
      head("HTTP/1.1 200 OK", "Content-Length: 1", "Content-Length: 2"),
      head("HTTP/1.1 200 OK", "Content-Length: -1"),
      head("HTTP/1.1 200 OK", "Transfer-Encoding: gzip"),
      head("HTTP/1.1 200 OK", "Content-Length : 1"),
      head("HTTP/1.1 200 OK", "X: 1\nY: 2"),
    ]) {
      expect(() => parseResponseHead(text, "GET")).toThrow(HttpParseError);
    }
  });
});

test("only spaces and tabs are optional whitespace: chunked\\xa0 or a length with \\v is refused", () => {
  expect(refused(head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked\xa0"))).toBe(501);
  expect(refused(head("POST / HTTP/1.1", "Host: a", "Content-Length: 5\x0b"))).toBe(400);
  expect(parseRequestHead(head("POST / HTTP/1.1", "Host: a", "Content-Length: \t5 "))).toMatchObject({ body: "length", length: 5 });
});

test("host values: what the slow path may be handed (RFC 9112 §3.2), and what it may not", async () => {
  const { isValidHost } = await import("./http1.ts");
  for (const host of ["web.test", "WEB.test:8080", "127.0.0.1", "[::1]", "[::1]:443", "", "xn--bcher-kva.example", "a_b.test"]) expect([host, isValidHost(host)]).toEqual([host, true]);
  for (const host of ["a b", "a@b", "web.test/x", "web.test?x", "web.test#", "wé.test", "[::1", "::1]", "[::1]x", "a[b]", "\\\\x"]) expect([host, isValidHost(host)]).toEqual([host, false]);
});
