import { describe, expect, test } from "bun:test";
import { ChunkedDecoder } from "./chunked.ts";
import { HttpParseError } from "./http1.ts";

describe("chunked bodies", () => {
  const enc = (s: string) => Buffer.from(s, "latin1");

  test("finds the end in one piece, with extensions and trailers, and leaves what follows", () => {
    const body = "5;name=x\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n";
    const d = new ChunkedDecoder();
    expect(d.feed(enc(`${body}GET / HTTP/1.1`))).toBe(body.length);
    expect(d.done).toBe(true);
  });

  test("finds the same end fed one byte at a time", () => {
    const body = "A\r\n0123456789\r\n1f\r\n" + "x".repeat(31) + "\r\n0\r\n\r\n";
    const d = new ChunkedDecoder();
    const bytes = enc(body);
    let end = -1;
    for (let i = 0; i < bytes.length && end < 0; i++) end = d.feed(bytes.subarray(i, i + 1));
    expect(end).toBe(1);
    expect(d.done).toBe(true);
  });

  test("a body that has not ended yet takes the whole chunk", () => {
    expect(new ChunkedDecoder().feed(enc("5\r\nhel"))).toBe(-1);
  });

  test("malformed chunks throw: bad size, data longer than its size, bare LF, oversized size", () => {
    for (const bad of ["z\r\n", "5\r\nhello!\r\n", "5\nhello\r\n", "ffffffffffffff\r\n", "\r\n", "5\r\nhello\r\n0\r\nX: 1\n"]) {
      expect(() => new ChunkedDecoder().feed(enc(bad))).toThrow(HttpParseError);
    }
  });
});
