import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { BeamstalkError, RateLimited } from "../lib/errors.ts";
import { defaultThrottle } from "./throttle.ts";
import { accessRoutes } from "./access.ts";
import { accountRoutes, sessionRoutes } from "./accounts.ts";
import { appRoutes } from "./apps.ts";
import { configRoutes } from "./config.ts";
import { cronRoutes } from "./cron.ts";
import { runRoutes } from "./run.ts";
import { slugRoutes } from "./slugs.ts";
import { agentBinaryRoutes } from "./agent-binary.ts";
import { internalRoutes } from "./internal.ts";
import { logRoutes } from "./logs.ts";
import { certRoutes } from "./certs.ts";
import { domainRoutes } from "./domains.ts";
import { postgresRoutes } from "./postgres.ts";
import { psRoutes } from "./ps.ts";
import { maintenanceRoutes } from "./maintenance.ts";
import { mfaPolicyRoutes, mfaRoutes } from "./mfa.ts";
import { nodeRoutes } from "./nodes.ts";
import { serverRoutes } from "./server.ts";
import type { ApiDeps, Env } from "./context.ts";
import { sshKeyRoutes } from "./ssh-keys.ts";
import { usageRoutes } from "./usage.ts";

export type { ApiDeps, Bindings, DeployActions, RouteControl, SetupToken } from "./context.ts";

const MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * The HTTP API as a Hono app. It never listens: the daemon hands it requests
 * from TCP and from the unix socket, tests call `createApi(deps).request()`.
 */
export function createApi(given: ApiDeps): Hono<Env> {
  const deps: ApiDeps = { ...given, throttle: given.throttle ?? defaultThrottle() };
  const api = new Hono<Env>();

  api.use(
    "/api/*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new BeamstalkError("payload_too_large", "request body is larger than 4 MiB");
      },
    }),
  );

  api.get("/api/health", (c) => c.json({ ok: true, version: deps.version, ...(deps.sshPort?.() ? { ssh_port: deps.sshPort() } : {}) }));
  api.route("/api", sessionRoutes(deps));
  api.route("/api/account/ssh_keys", sshKeyRoutes(deps));
  api.route("/api/account/mfa", mfaRoutes(deps));
  api.route("/api/apps/:app/access", accessRoutes(deps));
  api.route("/api/apps/:app/config", configRoutes(deps));
  api.route("/api/apps/:app/run", runRoutes(deps));
  api.route("/api/apps/:app/ps", psRoutes(deps));
  api.route("/api/apps/:app/cron", cronRoutes(deps));
  api.route("/api/apps/:app/maintenance", maintenanceRoutes(deps));
  api.route("/api/apps/:app/pg", postgresRoutes(deps, deps.postgres));
  if (deps.domains) {
    api.route("/api/apps/:app/domains", domainRoutes(deps, deps.domains));
    api.route("/api/apps/:app/certs", certRoutes(deps, deps.domains));
  }
  api.route("/api/apps/:app", logRoutes(deps));
  api.route("/api/apps", appRoutes(deps));
  api.route("/api/nodes", nodeRoutes(deps));
  api.route("/api/server/mfa", mfaPolicyRoutes(deps));
  api.route("/api/server", serverRoutes(deps));
  api.route("/api", accountRoutes(deps));
  api.route("/api", usageRoutes(deps));
  // Before /internal, whose other routes exist on the unix socket only: replicas fetch slugs over TCP.
  api.route("/internal/slugs", slugRoutes(deps));
  api.route("/internal/agent", agentBinaryRoutes(deps));
  api.route("/internal", internalRoutes(deps));

  api.notFound((c) => c.json(new BeamstalkError("not_found", `no such route: ${c.req.method} ${c.req.path}`).toBody(), 404));

  api.onError((err, c) => {
    if (err instanceof RateLimited) c.header("Retry-After", String(err.retryAfter));
    if (err instanceof BeamstalkError) return c.json(err.toBody(), err.status as 400);
    if (err instanceof HTTPException) {
      const e = new BeamstalkError("bad_request", err.message || "bad request");
      return c.json(e.toBody(), err.status);
    }
    deps.logger.error("api.internal_error", { method: c.req.method, path: c.req.path, error: err.message });
    return c.json(new BeamstalkError("internal", "internal server error", "the server log has the details").toBody(), 500);
  });

  return api;
}
