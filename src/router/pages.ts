/**
 * The router's own error pages. They name no backend, address or port: a
 * visitor learns that the app is unavailable, nothing about the host.
 */
const TEXT: Record<502 | 503, { title: string; body: string }> = {
  502: { title: "502 Bad Gateway", body: "The app did not answer. It may be starting or restarting; try again in a moment." },
  503: { title: "503 Service Unavailable", body: "The app has no running web process right now." },
};

const PAGES = new Map<number, string>(
  Object.entries(TEXT).map(([status, { title, body }]) => [
    Number(status),
    `<!doctype html>\n<html><head><meta charset="utf-8"><title>${title}</title></head>` +
      `<body style="font-family:sans-serif;max-width:40em;margin:4em auto"><h1>${title}</h1><p>${body}</p></body></html>\n`,
  ]),
);

export function errorPage(status: 502 | 503): Response {
  return new Response(PAGES.get(status)!, {
    status,
    headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" },
  });
}

const MAINTENANCE_PAGE =
  `<!doctype html>\n<html><head><meta charset="utf-8"><title>Down for maintenance</title></head>` +
  `<body style="font-family:sans-serif;max-width:40em;margin:4em auto"><h1>Down for maintenance</h1>` +
  `<p>This app is undergoing maintenance and will be back shortly.</p></body></html>\n`;

/** What visitors of an app in maintenance mode get, for HTTP and WebSocket requests alike. */
export function maintenancePage(): Response {
  return new Response(MAINTENANCE_PAGE, {
    status: 503,
    headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "retry-after": "120" },
  });
}

/** The same error pages as raw HTTP/1.1 responses, for the socket-level front; the connection closes after them. */
export function errorPageBytes(status: 502 | 503): Uint8Array {
  return rawResponse(status, TEXT[status].title.slice(4), "text/html; charset=utf-8", PAGES.get(status)!);
}

/** A short plain-text answer to a request the front refuses (400, 431, 501, 505), closing the connection. */
export function plainError(status: number, reason: string): Uint8Array {
  return rawResponse(status, STATUS_TEXT[status] ?? "Error", "text/plain; charset=utf-8", `${reason}\n`);
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  408: "Request Timeout",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  501: "Not Implemented",
  502: "Bad Gateway",
  505: "HTTP Version Not Supported",
};

function rawResponse(status: number, reason: string, type: string, body: string): Uint8Array {
  const bytes = Buffer.from(body, "utf8");
  const head = `HTTP/1.1 ${status} ${reason}\r\ncontent-type: ${type}\r\ncache-control: no-store\r\ncontent-length: ${bytes.length}\r\nconnection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), bytes]);
}
