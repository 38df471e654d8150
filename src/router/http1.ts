/**
 * HTTP/1.1 message framing for the socket-level front (front.ts): request and
 * response heads (chunked bodies: chunked.ts). Bodies themselves are never decoded: they pass through as bytes.
 *
 * Strict on purpose (RFC 9112): whatever two parsers could read differently
 * (request smuggling) is refused, not guessed at. Refused are a bare CR or LF,
 * NUL, obs-fold, whitespace before a colon, a header name that is no token,
 * Content-Length with Transfer-Encoding, differing Content-Lengths, any
 * Transfer-Encoding but a lone `chunked`, and more than one Host.
 *
 * Hand-written because nothing Bun exposes parses HTTP from a raw socket
 * (llhttp is internal to its server), and the front needs only framing.
 */

/** Longest request or response head accepted (request line/status line plus headers). */
export const MAX_HEAD = 64 * 1024;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A CR not followed by LF, an LF not preceded by CR, or a NUL: never valid in a head. */
const BAD_LINE_ENDS = /\r(?!\n)|(?<!\r)\n|\0/;
const TARGET = /^\/[\x21-\x7e]*$/;
const DIGITS = /^\d{1,15}$/;

/** Methods known to be tokens: the regex runs only for others. */
const COMMON_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/**
 * Optional whitespace (RFC 9110 §5.6.3) at either end: spaces and tabs only.
 * String.trim() also strips \v, \f and NBSP, so `chunked\xa0` would pass as chunked.
 */
const OWS = /^[ \t]+|[ \t]+$/g;

/** tchar (RFC 9110 §5.6.2) by char code. */
const TCHAR = new Uint8Array(128);
for (const ch of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[ch.charCodeAt(0)] = 1;

function isToken(text: string, start: number, end: number): boolean {
  if (end <= start) return false;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c > 127 || TCHAR[c] === 0) return false;
  }
  return true;
}

/**
 * Header names either parser acts on. Most headers have none of these
 * lengths, so their names are never lower-cased or looked up.
 */
const NOTED_LENGTHS = new Uint8Array(32);
for (const n of [2, 4, 7, 10, 14, 15, 16, 17, 18, 19]) NOTED_LENGTHS[n] = 1;
const NOTED_RESPONSE_LENGTHS = new Uint8Array(32);
for (const n of [2, 7, 10, 14, 16, 17, 18, 19]) NOTED_RESPONSE_LENGTHS[n] = 1;

/** Request headers never forwarded as they came: hop-by-hop, or set by the router itself. */
const DROP_REQUEST = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "upgrade",
  "proxy-authenticate",
  "proxy-authorization",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-forwarded-port",
  "x-forwarded-for",
]);

/** Response headers never passed back (hop-by-hop). */
const DROP_RESPONSE = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "proxy-authenticate", "proxy-authorization"]);

/** Headers `Connection` may not remove: taking them away would change how the message is framed or routed. */
const FRAMING = new Set(["host", "content-length", "transfer-encoding"]);

/**
 * Where each header line after `from` starts, has its colon and ends
 * (triples); throws for a line without a colon or with nothing before it.
 */
function headerLines(text: string, from: number): number[] {
  const out: number[] = [];
  let pos = from;
  while (pos < text.length) {
    const start = pos + 2;
    const next = text.indexOf("\r\n", start);
    const end = next < 0 ? text.length : next;
    pos = end;
    const colon = text.indexOf(":", start);
    if (colon <= start || colon >= end) throw new HttpParseError("header without a colon");
    out.push(start, colon, end);
  }
  return out;
}

/** `text` without the [start, end) ranges in `drops` (pairs, in order). */
function without(text: string, from: number, drops: number[]): string {
  let out = "";
  let at = from;
  for (let i = 0; i < drops.length; i += 2) {
    out += text.slice(at, drops[i]);
    at = drops[i + 1]!;
  }
  return out + text.slice(at);
}

/** Characters of a Host value (RFC 3986 reg-name, IP-literal brackets, port): by char code. */
const HOST_CHARS = new Uint8Array(128);
for (const ch of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%:[]") HOST_CHARS[ch.charCodeAt(0)] = 1;

/**
 * A Host value a server must accept (RFC 9112 §3.2 wants a 400 for any other).
 * Not checked per request on the fast path (a host that names an app is valid):
 * the front checks what it hands to the slow path, where Bun, given a Host it
 * cannot parse (a space, `@`, `/`, non-ASCII), makes `req.url` the bare path,
 * and routers that cut the origin off it by position then cut part of the path.
 */
export function isValidHost(host: string): boolean {
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c > 127 || HOST_CHARS[c] === 0) return false;
  }
  // Brackets only around an IP literal at the start, then nothing or a port.
  const close = host.lastIndexOf("]");
  if (host.charCodeAt(0) !== 91) return close < 0 && !host.includes("[");
  return close > 0 && host.indexOf("[", 1) < 0 && host.indexOf("]") === close && (close === host.length - 1 || host.charCodeAt(close + 1) === 58);
}

export class HttpParseError extends Error {
  constructor(
    message: string,
    /** The status a client gets for it (400, 431, 501). */
    readonly status: number = 400,
  ) {
    super(message);
  }
}

export interface RequestHead {
  method: string;
  /** Origin-form only ("/path?query"); anything else is `null` and goes the slow way. */
  target: string | null;
  /** HTTP/1.x minor version. */
  minor: number;
  host: string | null;
  body: "none" | "length" | "chunked";
  length: number;
  /** The client asked to close after this exchange. */
  close: boolean;
  /** A WebSocket upgrade (Connection: upgrade and Upgrade: websocket). */
  websocket: boolean;
  /** Everything after the request line to forward as is: `\r\nname: value` lines, hop-by-hop and X-Forwarded-* removed. */
  headers: string;
  /** X-Forwarded-For as received (joined), to append the client to. */
  forwardedFor: string | null;
}

/**
 * Parses a request head: `text` is the head as latin1 up to (not including)
 * the blank line. Throws HttpParseError for anything malformed.
 */
export function parseRequestHead(text: string): RequestHead {
  if (BAD_LINE_ENDS.test(text)) throw new HttpParseError("bad line ending");
  const lineEnd = text.indexOf("\r\n");
  const requestLine = lineEnd < 0 ? text : text.slice(0, lineEnd);
  const sp1 = requestLine.indexOf(" ");
  const sp2 = requestLine.indexOf(" ", sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || requestLine.indexOf(" ", sp2 + 1) >= 0) throw new HttpParseError("bad request line");
  const method = requestLine.slice(0, sp1);
  const rawTarget = requestLine.slice(sp1 + 1, sp2);
  const version = requestLine.slice(sp2 + 1);
  if (!COMMON_METHODS.has(method) && !TOKEN.test(method)) throw new HttpParseError("bad method");
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
    if (version.startsWith("HTTP/")) throw new HttpParseError("HTTP version not supported", 505);
    throw new HttpParseError("bad request line");
  }
  const originForm = TARGET.test(rawTarget);
  if (!originForm && (rawTarget === "" || /[\x00-\x20\x7f]/.test(rawTarget))) throw new HttpParseError("bad request target");
  const minor = version === "HTTP/1.1" ? 1 : 0;

  let host: string | null = null;
  let hosts = 0;
  let length: string | null = null;
  let lengths = 0;
  let chunked = false;
  let transferEncoding = false;
  let connection = "";
  let upgrade = "";
  let forwardedFor: string | null = null;
  /** [start, end) of each header line not forwarded. */
  const drops: number[] = [];
  const from = lineEnd < 0 ? text.length : lineEnd;
  const lines = headerLines(text, from);
  for (let i = 0; i < lines.length; i += 3) {
    const start = lines[i]!;
    const colon = lines[i + 1]!;
    const end = lines[i + 2]!;
    if (!isToken(text, start, colon)) throw new HttpParseError("bad header name");
    const len = colon - start;
    if (len >= 32 || NOTED_LENGTHS[len] === 0) continue;
    const lower = text.slice(start, colon).toLowerCase();
    switch (lower) {
      case "host":
        hosts++;
        host = text.slice(colon + 1, end).replace(OWS, "");
        continue;
      case "content-length": {
        const value = text.slice(colon + 1, end).replace(OWS, "");
        for (const v of value.split(",")) {
          const n = v.replace(OWS, "");
          if (!DIGITS.test(n)) throw new HttpParseError("bad content-length");
          if (length !== null && Number(length) !== Number(n)) throw new HttpParseError("conflicting content-length");
          length = n;
        }
        lengths += value.includes(",") ? 2 : 1;
        continue;
      }
      case "transfer-encoding":
        if (
          transferEncoding ||
          text
            .slice(colon + 1, end)
            .replace(OWS, "")
            .toLowerCase() !== "chunked"
        )
          throw new HttpParseError("unsupported transfer-encoding", 501);
        transferEncoding = chunked = true;
        continue;
      case "connection":
        connection += `,${text.slice(colon + 1, end).toLowerCase()}`;
        break;
      case "upgrade":
        upgrade = text
          .slice(colon + 1, end)
          .replace(OWS, "")
          .toLowerCase();
        break;
      case "x-forwarded-for": {
        const value = text.slice(colon + 1, end).replace(OWS, "");
        forwardedFor = forwardedFor === null ? value : `${forwardedFor}, ${value}`;
        break;
      }
    }
    if (DROP_REQUEST.has(lower)) drops.push(start - 2, end);
  }
  if (hosts > 1) throw new HttpParseError("more than one host header");
  if (hosts === 0 && minor === 1) throw new HttpParseError("missing host header");
  if (transferEncoding && (length !== null || minor === 0)) throw new HttpParseError("transfer-encoding with content-length or on HTTP/1.0");

  let close = minor === 0;
  let websocket = false;
  let named: string[] | null = null;
  if (connection !== "") {
    for (const raw of connection.split(",")) {
      const token = raw.replace(OWS, "");
      if (token === "close") close = true;
      else if (token === "keep-alive") close = minor === 0 ? false : close;
      else if (token === "upgrade") websocket = upgrade === "websocket";
      else if (token !== "" && !FRAMING.has(token)) (named ??= []).push(token);
    }
  }
  let headers = drops.length === 0 ? text.slice(from) : without(text, from, drops);
  if (named !== null) for (const name of named) headers = dropHeader(headers, name);
  // Repeated (equal) lengths go upstream as one.
  if (lengths > 1) headers = `${dropHeader(headers, "content-length")}\r\ncontent-length: ${length}`;
  return {
    method,
    target: originForm ? rawTarget : null,
    minor,
    host,
    body: chunked ? "chunked" : length !== null && Number(length) !== 0 ? "length" : "none",
    length: length === null ? 0 : Number(length),
    close,
    websocket,
    headers,
    forwardedFor,
  };
}

export interface ResponseHead {
  status: number;
  /** How the body is delimited: none (HEAD, 1xx, 204, 304), a length, chunked, or until the upstream closes. */
  body: "none" | "length" | "chunked" | "close";
  length: number;
  /** The upstream keeps the connection open after this response. */
  keepAlive: boolean;
  /** The status line and the headers to pass back, without the final blank line. */
  head: string;
}

/** Parses a response head (latin1, without the blank line) to a request with `method`. */
export function parseResponseHead(text: string, method: string): ResponseHead {
  if (BAD_LINE_ENDS.test(text)) throw new HttpParseError("bad line ending in response");
  const lineEnd = text.indexOf("\r\n");
  const statusLine = lineEnd < 0 ? text : text.slice(0, lineEnd);
  if (!/^HTTP\/1\.[01] \d{3}( |$)/.test(statusLine)) throw new HttpParseError("bad status line");
  const minor = statusLine.charCodeAt(7) - 48;
  const status = Number(statusLine.slice(9, 12));
  let length: string | null = null;
  let chunked = false;
  let connection = "";
  const drops: number[] = [];
  const from = lineEnd < 0 ? text.length : lineEnd;
  const lines = headerLines(text, from);
  for (let i = 0; i < lines.length; i += 3) {
    const start = lines[i]!;
    const colon = lines[i + 1]!;
    const end = lines[i + 2]!;
    // Only whitespace before the colon is checked here: the client parses the rest as it would from the app.
    const last = text.charCodeAt(colon - 1);
    if (last === 32 || last === 9) throw new HttpParseError("bad response header name");
    const len = colon - start;
    if (len >= 32 || NOTED_RESPONSE_LENGTHS[len] === 0) continue;
    const lower = text.slice(start, colon).toLowerCase();
    if (lower === "content-length") {
      const value = text.slice(colon + 1, end).replace(OWS, "");
      if (!DIGITS.test(value) || (length !== null && Number(length) !== Number(value))) throw new HttpParseError("bad content-length in response");
      if (length !== null) drops.push(start - 2, end);
      length = value;
    } else if (lower === "transfer-encoding") {
      if (
        text
          .slice(colon + 1, end)
          .replace(OWS, "")
          .toLowerCase() !== "chunked"
      )
        throw new HttpParseError("unsupported transfer-encoding in response");
      chunked = true;
    } else if (DROP_RESPONSE.has(lower)) {
      if (lower === "connection") connection += `,${text.slice(colon + 1, end).toLowerCase()}`;
      drops.push(start - 2, end);
    }
  }
  let keepAlive = minor === 1;
  let head = drops.length === 0 ? text : statusLine + without(text, from, drops);
  if (connection !== "") {
    for (const raw of connection.split(",")) {
      const token = raw.replace(OWS, "");
      if (token === "close") keepAlive = false;
      else if (token === "keep-alive" && minor === 0) keepAlive = true;
      else if (token !== "" && token !== "keep-alive" && token !== "upgrade" && !FRAMING.has(token)) head = dropHeader(head, token);
    }
  }
  if (chunked && length !== null) {
    // RFC 9112 §6.3: chunked wins, and the connection cannot be trusted after.
    head = dropHeader(head, "content-length");
    length = null;
    keepAlive = false;
  }
  const bodiless = method === "HEAD" || status < 200 || status === 204 || status === 304;
  const body = bodiless ? "none" : chunked ? "chunked" : length !== null ? "length" : "close";
  if (body === "close") keepAlive = false;
  return { status, body, length: length === null ? 0 : Number(length), keepAlive, head };
}

/** Removes every `\r\nname: …` line whose name is `lower` (case-insensitive) from a header block. */
function dropHeader(block: string, lower: string): string {
  const lines = block.split("\r\n");
  return lines.filter((line, i) => i === 0 || line.slice(0, line.indexOf(":")).toLowerCase() !== lower).join("\r\n");
}
