/**
 * The WebSocket benchmark's upstream: echoes every message back on
 * 127.0.0.1, port printed on stdout. GET /stats answers its counters (open,
 * opened, closed, messages) so the benchmark can check what it holds; any
 * other plain HTTP request gets a small 200 (readiness probes).
 */
export {};

let open = 0;
let opened = 0;
let closed = 0;
let messages = 0;
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(req, server) {
    if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
      if (server.upgrade(req, { data: undefined })) return undefined;
      return new Response("upgrade failed", { status: 400 });
    }
    if (new URL(req.url).pathname === "/stats") return Response.json({ open, opened, closed, messages });
    return new Response("websocket echo");
  },
  websocket: {
    open() {
      open++;
      opened++;
    },
    message(ws, message) {
      messages++;
      ws.send(message);
    },
    close() {
      open--;
      closed++;
    },
  },
});
console.log(server.port);
