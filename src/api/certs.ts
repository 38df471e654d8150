import { Hono } from "hono";
import { checkDomain } from "../lib/domain-name.ts";
import { BeamstalkError, badRequest, notFound } from "../lib/errors.ts";
import { Secret } from "../lib/secret.ts";
import type { App } from "../state/index.ts";
import { requireUser } from "./auth.ts";
import { type ApiDeps, type Env, appFor, readJson } from "./context.ts";
import type { DomainDeps } from "./domains.ts";

const MAX_PEM = 64 * 1024;

/**
 * Certificates at /api/apps/:app/certs, for the app's own host names (its
 * custom domains and `<app>.<base-domain>`); viewers may not touch them.
 *
 * - `POST /` `{"domain", "cert", "key"}` (PEM): install your own; the key must
 *   match; ACME never renews it. The key is a Secret from the moment it is read.
 * - `POST /:domain/renew`: order a new ACME certificate (new key) now, e.g.
 *   after a key compromise; answers 200 once it serves, 202 if the CA is still
 *   busy after the wait, or `certificate_failed` (502) with the CA's reason.
 * - `DELETE /:domain`: drop the certificate, manual or ACME; a domain still on
 *   the app goes (back) to automatic TLS and gets a new order at once.
 */
export function certRoutes(deps: ApiDeps, d: DomainDeps) {
  const r = new Hono<Env>();
  r.use(requireUser(deps));

  /** The domain, checked to be one of the app's host names (another app's is as unknown as a missing one). */
  const ownDomain = (app: App, raw: unknown): string => {
    const domain = checkDomain(raw);
    const own = d.domains.ownerOf(domain) === app.name || (deps.baseDomain !== undefined && domain === `${app.name}.${deps.baseDomain}`);
    if (!own) throw notFound(`${domain} is not a domain of ${app.name}`, "`beamstalk domains` lists them; add one with `beamstalk domains:add`");
    return domain;
  };
  const tlsOn = () => {
    if (!d.tls) throw new BeamstalkError("unreachable", "TLS is not enabled on this server", "start the server with --https-port");
    return d.tls;
  };

  r.post("/", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    const body = await readJson(c);
    const domain = checkDomain(body.domain);
    if (typeof body.cert !== "string" || body.cert.length > MAX_PEM) throw badRequest("`cert` must be a PEM certificate chain (at most 64 KiB)");
    if (typeof body.key !== "string" || body.key.length > MAX_PEM) throw badRequest("`key` must be a PEM private key (at most 64 KiB)");
    const key = new Secret(body.key);
    ownDomain(app, domain);
    const status = tlsOn().addManual(domain, body.cert, key);
    deps.logger.info("certs.add", { app: app.name, domain, user: c.var.user.email, expires_at: status.expires_at });
    deps.state.activity.record(app.id, c.var.user.id, "cert.add", `Installed a certificate for ${domain}`);
    return c.json(status, 201);
  });

  r.post("/:domain/renew", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    const domain = ownDomain(app, c.req.param("domain").toLowerCase());
    const tls = tlsOn();
    deps.logger.info("certs.renew", { app: app.name, domain, user: c.var.user.email });
    deps.state.activity.record(app.id, c.var.user.id, "cert.renew", `Asked for a new certificate for ${domain}`);
    const status = await tls.renewNow(domain);
    return c.json(status, status.state === "issued" ? 200 : 202);
  });

  r.delete("/:domain", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    const domain = ownDomain(app, c.req.param("domain").toLowerCase());
    const status = tlsOn().remove(domain);
    deps.logger.info("certs.remove", { app: app.name, domain, user: c.var.user.email, next: status.state });
    deps.state.activity.record(app.id, c.var.user.id, "cert.remove", `Removed the certificate of ${domain}`);
    return c.json(status);
  });

  return r;
}
