/** The router as the daemon runs it: its own process, one Bun.serve, idleTimeout 0. */
import { createLogger } from "../src/lib/logger.ts";
import { createRouter, type WebSocketSession } from "../src/router/index.ts";

const upstreamPort = Number(process.argv[2]);
const router = createRouter({ logger: createLogger(), fallback: () => new Response("api", { status: 404 }) });
router.setRoute("bench", ["bench.test"], [{ host: "127.0.0.1", port: upstreamPort }]);
const server = Bun.serve<WebSocketSession>({ hostname: "127.0.0.1", port: 0, idleTimeout: 0, fetch: router.fetch, websocket: router.websocket });
console.log(server.port);
