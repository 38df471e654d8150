/**
 * Header rewriting at the proxy hop. Both functions edit the Headers object
 * they are given (Bun's request and fetch-response headers are mutable), so
 * the data path copies nothing.
 */

/** Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded. */
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "proxy-authenticate", "proxy-authorization"];

/** Connection values that name no other header: the common case skips the split. */
const SIMPLE_CONNECTION = new Set(["keep-alive", "close", "Keep-Alive", "Close", "upgrade", "Upgrade"]);

export interface ForwardedFor {
  /** The client's address as the listener saw it, if known. */
  clientIp: string | undefined;
  proto: "http" | "https";
  /** The port the client connected to (the listener's). */
  port?: number;
}

/** Strips hop-by-hop headers and sets X-Forwarded-For/-Proto/-Host/-Port on a request going upstream. */
export function forwardRequestHeaders(headers: Headers, forwarded: ForwardedFor): void {
  stripHopByHop(headers);
  const { clientIp } = forwarded;
  if (clientIp !== undefined) {
    const prior = headers.get("x-forwarded-for");
    headers.set("x-forwarded-for", prior ? `${prior}, ${clientIp}` : clientIp);
  }
  headers.set("x-forwarded-proto", forwarded.proto);
  const host = headers.get("host");
  if (host !== null) headers.set("x-forwarded-host", host);
  if (forwarded.port !== undefined) headers.set("x-forwarded-port", String(forwarded.port));
}

/** Strips hop-by-hop headers from a response coming back. */
export function cleanResponseHeaders(headers: Headers): void {
  stripHopByHop(headers);
}

export function stripHopByHop(headers: Headers): void {
  const connection = headers.get("connection");
  if (connection !== null && !SIMPLE_CONNECTION.has(connection)) {
    for (const token of connection.split(",")) {
      const name = token.trim().toLowerCase();
      if (name !== "") headers.delete(name);
    }
  }
  for (const name of HOP_BY_HOP) headers.delete(name);
}
