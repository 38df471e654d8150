/** The HTTPS side as the daemon runs it: src/tls's HttpsListener (node:tls) feeding the router's entrance, its own process. Args: upstream port, cert file, key file. */
import { readFileSync } from "node:fs";
import { createLogger } from "../src/lib/logger.ts";
import { createRouter } from "../src/router/index.ts";
import { HttpsListener } from "../src/tls/listener.ts";

const [upstreamPort, certFile, keyFile] = process.argv.slice(2) as [string, string, string];
const logger = createLogger();
const router = createRouter({ logger, fallback: () => new Response("api", { status: 404 }) });
router.setRoute("bench", ["bench.test"], [{ host: "127.0.0.1", port: Number(upstreamPort) }]);
const listener = new HttpsListener({ hostname: "127.0.0.1", port: 0, entrance: router.entrance, logger });
listener.serve([{ serverName: "bench.test", cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") }]);
console.log(listener.port);
