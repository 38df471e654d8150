/** The router as the daemon runs it: its own process, the socket-level front with the slow path behind it. */
import { createLogger } from "../src/lib/logger.ts";
import { createRouter } from "../src/router/index.ts";

const upstreamPort = Number(process.argv[2]);
const router = createRouter({ logger: createLogger(), fallback: () => new Response("api", { status: 404 }) });
router.setRoute("bench", ["bench.test"], [{ host: "127.0.0.1", port: upstreamPort }]);
const listener = router.listen({ hostname: "127.0.0.1", port: 0 });
console.log(listener.port);
