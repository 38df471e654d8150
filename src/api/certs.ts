import { Hono } from "hono";
import { checkDomain } from "../lib/domain-name.ts";
import { BeamstalkError, badRequest, notFound } from "../lib/errors.ts";
import { Secret } from "../lib/secret.ts";
import { requireUser } from "./auth.ts";
import { type ApiDeps, type Env, appFor, readJson } from "./context.ts";
import type { DomainDeps } from "./domains.ts";

const MAX_PEM = 64 * 1024;

/**
 * Manual certificates at /api/apps/:app/certs: `{"domain", "cert", "key"}` (PEM).
 * The domain must be the app's; the key must match; ACME never renews these.
 * The key is a Secret from the moment it is read: it is never logged or echoed.
 */
export function certRoutes(deps: ApiDeps, d: DomainDeps) {
  const r = new Hono<Env>();
  r.use(requireUser(deps));

  r.post("/", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    const body = await readJson(c);
    const domain = checkDomain(body.domain);
    if (typeof body.cert !== "string" || body.cert.length > MAX_PEM) throw badRequest("`cert` must be a PEM certificate chain (at most 64 KiB)");
    if (typeof body.key !== "string" || body.key.length > MAX_PEM) throw badRequest("`key` must be a PEM private key (at most 64 KiB)");
    const key = new Secret(body.key);
    const own = d.domains.ownerOf(domain) === app.name || (deps.baseDomain !== undefined && domain === `${app.name}.${deps.baseDomain}`);
    if (!own) throw notFound(`${domain} is not a domain of ${app.name}`, "add it first: `beamstalk domains:add`");
    if (!d.tls) throw new BeamstalkError("unreachable", "TLS is not enabled on this server", "start the server with --https-port");
    const status = d.tls.addManual(domain, body.cert, key);
    deps.logger.info("certs.add", { app: app.name, domain, user: c.var.user.email, expires_at: status.expires_at });
    return c.json(status, 201);
  });

  return r;
}
