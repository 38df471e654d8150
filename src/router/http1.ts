/**
 * The HTTP/1.1 wire format the upstream client speaks (RFC 9112): the request
 * head it writes, the response head it reads, and chunked bodies. Pure
 * functions and one small state machine, no I/O.
 */
import { HOP_BY_HOP, SIMPLE_CONNECTION } from "./headers.ts";

/**
 * How the request body goes upstream: none; none but `Content-Length: 0` (the
 * client sent one); as the client framed it (Content-Length); or re-chunked.
 */
export type RequestFraming = "none" | "empty" | "length" | "chunked";

export interface RequestHeadOptions {
  method: string;
  /** The request target: path and query. */
  path: string;
  headers: Headers;
  clientIp: string | undefined;
  proto: "http" | "https";
  framing: RequestFraming;
}

/** Request headers the head writes itself (after the client's, rewritten). */
const REWRITTEN = new Set(["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "content-length"]);

/**
 * The request head for the upstream: the client's headers minus hop-by-hop ones
 * (and those its Connection names), X-Forwarded-For appended to, -Proto and
 * -Host set, and the body framing stated. Bun has validated every name and
 * value (no CR or LF), so they are written as they are.
 */
export function requestHead(o: RequestHeadOptions): string {
  const { headers } = o;
  const connection = headers.get("connection");
  const named = connection !== null && !SIMPLE_CONNECTION.has(connection) ? connectionTokens(connection) : null;
  let head = `${o.method} ${o.path} HTTP/1.1\r\n`;
  let forwardedFor: string | null = null;
  let host: string | null = null;
  let length: string | null = null;
  headers.forEach((value, name) => {
    if (HOP_BY_HOP.has(name) || (named !== null && named.has(name))) return;
    if (REWRITTEN.has(name)) {
      if (name === "x-forwarded-for") forwardedFor = value;
      else if (name === "content-length") length = value;
      return;
    }
    if (name === "host") host = value;
    head += `${name}: ${value}\r\n`;
  });
  if (o.framing === "length") head += `content-length: ${length}\r\n`;
  else if (o.framing === "chunked") head += "transfer-encoding: chunked\r\n";
  else if (o.framing === "empty") head += "content-length: 0\r\n";
  if (o.clientIp !== undefined) head += `x-forwarded-for: ${forwardedFor ? `${forwardedFor}, ${o.clientIp}` : o.clientIp}\r\n`;
  head += `x-forwarded-proto: ${o.proto}\r\n`;
  if (host !== null) head += `x-forwarded-host: ${host}\r\n`;
  return head + "\r\n";
}

function connectionTokens(value: string): Set<string> {
  const names = new Set<string>();
  for (const token of value.split(",")) {
    const name = token.trim().toLowerCase();
    if (name !== "") names.add(name);
  }
  return names;
}

/** How a response body ends (RFC 9112 §6.3). */
export type ResponseFraming = { kind: "none" } | { kind: "length"; length: number } | { kind: "chunked" } | { kind: "close" };

export interface ResponseHead {
  status: number;
  statusText: string;
  /** Headers for the client: lower-case names, hop-by-hop ones removed, in order. */
  headers: [string, string][];
  framing: ResponseFraming;
  /** Whether the connection may carry another request once this body is read. */
  keepAlive: boolean;
}

/** The upstream's answer cannot be relayed safely. */
export class BadResponse extends Error {
  constructor(what: string) {
    super(`bad upstream response: ${what}`);
  }
}

/**
 * Parses a response head (the text before the blank line, in latin1).
 * `method` is the request's: a HEAD answer has no body whatever it says.
 * Throws BadResponse on anything malformed or ambiguous; a proxy must not guess
 * where a body ends.
 */
export function parseResponseHead(text: string, method: string): ResponseHead {
  let eol = text.indexOf("\r\n");
  if (eol < 0) eol = text.length;
  const statusLine = text.slice(0, eol);
  const match = /^HTTP\/1\.([01]) (\d{3})(?: ([^\r\n]*))?$/.exec(statusLine);
  if (match === null) throw new BadResponse(`bad status line: ${JSON.stringify(statusLine.slice(0, 80))}`);
  const status = Number(match[2]);
  let keepAlive = match[1] === "1";
  const headers: [string, string][] = [];
  let contentLength: string | null = null;
  let transferEncoding: string | null = null;
  let named: Set<string> | null = null;
  for (let pos = eol + 2; pos < text.length; ) {
    let end = text.indexOf("\r\n", pos);
    if (end < 0) end = text.length;
    const colon = text.indexOf(":", pos);
    if (colon <= pos || colon > end) throw new BadResponse("bad header line");
    const name = text.slice(pos, colon).toLowerCase();
    if (!TOKEN.test(name)) throw new BadResponse("bad header name"); // also rejects obs-fold and space before the colon
    const value = trimOws(text.slice(colon + 1, end));
    pos = end + 2;
    if (name === "content-length") {
      if (contentLength !== null && contentLength !== value) throw new BadResponse("conflicting content-length");
      contentLength = value;
      continue;
    }
    if (name === "transfer-encoding") transferEncoding = transferEncoding === null ? value : `${transferEncoding}, ${value}`;
    else if (name === "connection") {
      const tokens = connectionTokens(value);
      if (tokens.has("close")) keepAlive = false;
      named = named === null ? tokens : new Set([...named, ...tokens]);
    }
    if (HOP_BY_HOP.has(name)) continue;
    headers.push([name, value]);
  }
  const clean = named === null ? headers : headers.filter(([name]) => !named.has(name));
  let framing: ResponseFraming;
  if (method === "HEAD" || status === 204 || status === 304 || status < 200) framing = { kind: "none" };
  else if (transferEncoding !== null) {
    // Transfer-Encoding overrides Content-Length; a body not ending in chunked runs to the close.
    const codings = transferEncoding.toLowerCase().split(",");
    framing = codings[codings.length - 1]!.trim() === "chunked" ? { kind: "chunked" } : { kind: "close" };
    if (contentLength !== null || framing.kind === "close") keepAlive = false;
  } else if (contentLength !== null) {
    const values = contentLength.split(",").map(trimOws);
    if (values.some((v) => v !== values[0]) || !/^\d{1,15}$/.test(values[0]!)) throw new BadResponse("bad content-length");
    framing = { kind: "length", length: Number(values[0]) };
  } else {
    framing = { kind: "close" };
    keepAlive = false;
  }
  // A HEAD or 304 answer may state the length of the body it does not send.
  if (contentLength !== null && transferEncoding === null && (method === "HEAD" || status === 304)) clean.push(["content-length", contentLength]);
  else if (framing.kind === "length") clean.push(["content-length", String(framing.length)]);
  return { status, statusText: match[3] ?? "", headers: clean, framing, keepAlive };
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 32 || value.charCodeAt(start) === 9)) start++;
  while (end > start && (value.charCodeAt(end - 1) === 32 || value.charCodeAt(end - 1) === 9)) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

const MAX_LINE = 4096;

/**
 * Decodes a chunked body as it arrives: push() hands each piece of body data
 * to `onData` (views into the input, no copies) and returns how many input
 * bytes it used; `done` turns true after the last chunk and its trailers
 * (which are dropped). Throws BadResponse on malformed framing.
 */
export class ChunkedDecoder {
  done = false;
  #state: "size" | "data" | "data-end" | "trailer" = "size";
  #remaining = 0;
  #line = "";

  push(input: Uint8Array, onData: (data: Uint8Array) => void): number {
    let i = 0;
    while (i < input.length && !this.done) {
      if (this.#state === "data") {
        const n = Math.min(this.#remaining, input.length - i);
        onData(input.subarray(i, i + n));
        i += n;
        this.#remaining -= n;
        if (this.#remaining === 0) this.#state = "data-end";
        continue;
      }
      const lf = input.indexOf(10, i);
      const end = lf < 0 ? input.length : lf;
      this.#line += latin1(input.subarray(i, end));
      if (this.#line.length > MAX_LINE) throw new BadResponse("chunk line too long");
      i = end;
      if (lf < 0) break;
      i++; // the LF
      if (!this.#line.endsWith("\r")) throw new BadResponse("bare LF in chunked body");
      const line = this.#line.slice(0, -1);
      this.#line = "";
      this.#lineDone(line);
    }
    return i;
  }

  #lineDone(line: string): void {
    if (this.#state === "data-end") {
      if (line !== "") throw new BadResponse("missing CRLF after chunk");
      this.#state = "size";
    } else if (this.#state === "size") {
      const semi = line.indexOf(";");
      const hex = trimOws(semi < 0 ? line : line.slice(0, semi));
      if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw new BadResponse("bad chunk size");
      const size = parseInt(hex, 16);
      if (size === 0) this.#state = "trailer";
      else {
        this.#remaining = size;
        this.#state = "data";
      }
    } else if (line === "") this.done = true; // end of trailers
  }
}

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}
