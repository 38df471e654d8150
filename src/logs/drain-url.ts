import { badRequest } from "../lib/errors.ts";

export type DrainKind = "syslog" | "syslog+tls" | "https";

/** Where a drain sends: parsed from its URL, checked. */
export interface DrainTarget {
  kind: DrainKind;
  host: string;
  port: number;
  url: URL;
}

const MAX_URL = 2048;
const HINT = "drains are syslog://host:port (TCP), syslog+tls://host:port (TLS) or https://host/path";
const SCHEMES: Record<string, DrainKind> = { "syslog:": "syslog", "syslog+tls:": "syslog+tls", "https:": "https" };

/** Checks a drain URL; throws a bad_request error that never repeats the URL (it may hold a password). */
export function parseDrainUrl(raw: unknown): DrainTarget {
  if (typeof raw !== "string" || raw.trim() === "") throw badRequest("a drain needs a URL", HINT);
  if (raw.length > MAX_URL) throw badRequest(`a drain URL is at most ${MAX_URL} characters`);
  if (/[\s\0]/.test(raw)) throw badRequest("a drain URL may not contain spaces or control characters", HINT);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw badRequest("the drain URL is not a URL", HINT);
  }
  const kind = SCHEMES[url.protocol];
  if (!kind) {
    const shown = url.protocol.replace(/:$/, "").slice(0, 20);
    throw badRequest(`drain URLs must be syslog://, syslog+tls:// or https://, not ${shown}://`, shown === "http" ? "use https:// so the lines and any credentials are encrypted" : HINT);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!host) throw badRequest("the drain URL has no host", HINT);
  if (!/^[A-Za-z0-9.:-]+$/.test(host)) throw badRequest("the drain URL's host is not a valid host name or IP address", HINT);
  if (kind !== "https") {
    if (!url.port) throw badRequest(`${kind}:// drains need a port, e.g. ${kind}://logs.example.com:${kind === "syslog" ? 514 : 6514}`);
    if (url.username || url.password) throw badRequest(`${kind}:// drains take no user or password`);
    if ((url.pathname && url.pathname !== "/") || url.search || url.hash) throw badRequest(`${kind}:// drains take only a host and a port`, HINT);
  }
  const port = url.port ? Number(url.port) : 443;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw badRequest("the drain URL's port must be 1 to 65535");
  return { kind, host, port, url };
}

/** The URL with any user:password and query string hidden: safe for logs and listings. */
export function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "[REDACTED]";
  }
  const auth = url.username || url.password ? "[REDACTED]@" : "";
  const path = url.pathname === "/" && !url.search ? "" : url.pathname;
  return `${url.protocol}//${auth}${url.host}${path}${url.search ? "?[REDACTED]" : ""}`;
}
