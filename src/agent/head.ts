import { createHash, timingSafeEqual } from "node:crypto";
import { AGENT_TOKEN_HEADER } from "./protocol.ts";

/** What the first bytes of a connection say about it. */
export type HeadCheck =
  | { verdict: "incomplete"; searched: number }
  | { verdict: "accepted" }
  | { verdict: "refused"; status: 400 | 401 | 431; reason: string };

const END = Buffer.from("\r\n\r\n");
const REQUEST_LINE = /^[A-Z]+ \S+ HTTP\/1\.[01]$/;
const NAME = AGENT_TOKEN_HEADER.toLowerCase();

/** Tokens are compared as digests: equal lengths, so the comparison time says nothing about the token. */
export function tokenDigest(token: string): Buffer {
  return createHash("sha256").update(token, "latin1").digest();
}

/**
 * Checks the first request head on a connection: a request line, then exactly
 * one token header with the right token. `from` is where the search for the
 * head's end resumes (what an earlier "incomplete" returned), so a head that
 * trickles in is not scanned again from the start for each piece.
 */
export function checkHead(buf: Buffer, expected: Buffer, maxBytes: number, from = 0): HeadCheck {
  const end = buf.indexOf(END, Math.max(0, from - (END.length - 1)));
  if (end < 0 || end + END.length > maxBytes) {
    if (buf.length >= maxBytes) return { verdict: "refused", status: 431, reason: "head too large" };
    return { verdict: "incomplete", searched: buf.length };
  }
  const [requestLine, ...lines] = buf.subarray(0, end).toString("latin1").split("\r\n");
  if (!REQUEST_LINE.test(requestLine!)) return { verdict: "refused", status: 400, reason: "not an HTTP/1 request" };
  const tokens: string[] = [];
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) return { verdict: "refused", status: 400, reason: "malformed header line" };
    if (line.slice(0, colon).toLowerCase() === NAME) tokens.push(line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, ""));
  }
  if (tokens.length === 0) return { verdict: "refused", status: 401, reason: "no token" };
  if (tokens.length > 1) return { verdict: "refused", status: 401, reason: "token header repeated" };
  if (!timingSafeEqual(tokenDigest(tokens[0]!), expected)) return { verdict: "refused", status: 401, reason: "wrong token" };
  return { verdict: "accepted" };
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
  502: "Bad Gateway",
};

/** A whole answer that closes the connection; the body is Docker's error shape, so dockerode shows the message. */
export function refusal(status: number, message: string): string {
  const body = JSON.stringify({ message: `beamstalk agent: ${message}` });
  return `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? "Error"}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}
