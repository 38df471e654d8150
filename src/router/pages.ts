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
