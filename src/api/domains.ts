import { Hono } from "hono";
import { checkDomain } from "../lib/domain-name.ts";
import { BeamstalkError } from "../lib/errors.ts";
import type { Domains } from "../state/domains.ts";
import type { App } from "../state/index.ts";
import type { CertificateStatus } from "../tls/manager.ts";
import { requireUser } from "./auth.ts";
import { type ApiDeps, type Env, appFor, readJson } from "./context.ts";

/** What the domain and certificate routes need beyond ApiDeps (the daemon passes the repository and the TlsManager). */
export interface DomainDeps {
  domains: Domains;
  /** Certificate state per host name, manual certificates, renewals and removals (src/tls's TlsManager); without it every state reads "none". */
  tls?: {
    status(hostname: string): CertificateStatus;
    addManual(hostname: string, certPem: string, keyPem: import("../lib/secret.ts").Secret): CertificateStatus;
    renewNow(hostname: string): Promise<CertificateStatus>;
    remove(hostname: string): CertificateStatus;
  };
  /** Called after an app's domains changed: re-route its host names and order or drop certificates. */
  changed(app: App, change: { added: string[]; removed: string[] }): void | Promise<void>;
}

export interface DomainJson {
  domain: string;
  /** false for `<app>.<base-domain>`, which comes with the app. */
  custom: boolean;
  certificate: Omit<CertificateStatus, "domain">;
}

const NO_CERTIFICATE: Omit<CertificateStatus, "domain"> = { state: "none", source: null, expires_at: null, last_error: null, next_attempt_at: null };

/** Custom domains at /api/apps/:app/domains: viewers read, collaborators and up change. */
export function domainRoutes(deps: ApiDeps, d: DomainDeps) {
  const r = new Hono<Env>();
  r.use(requireUser(deps));

  const json = (domain: string, custom: boolean): DomainJson => {
    const { domain: _, ...certificate } = d.tls?.status(domain) ?? { domain, ...NO_CERTIFICATE };
    return { domain, custom, certificate };
  };

  r.get("/", (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "read");
    const base = deps.baseDomain ? [json(`${app.name}.${deps.baseDomain}`, false)] : [];
    return c.json([...base, ...d.domains.list(app).map((x) => json(x.name, true))]);
  });

  /** Body: `{"domain": "www.example.com"}`. */
  r.post("/", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    const name = checkDomain((await readJson(c)).domain);
    if (deps.baseDomain && (name === deps.baseDomain || name.endsWith(`.${deps.baseDomain}`))) {
      throw new BeamstalkError("conflict", `${name} is under the platform's base domain ${deps.baseDomain}`, `each app is already served at <app>.${deps.baseDomain}`);
    }
    const existed = d.domains.ownerOf(name) === app.name;
    d.domains.add(app, name, c.var.user.id);
    if (!existed) {
      deps.logger.info("domain.add", { app: app.name, domain: name, user: c.var.user.email });
      await d.changed(app, { added: [name], removed: [] });
    }
    return c.json(json(name, true), existed ? 200 : 201);
  });

  r.delete("/:domain", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    const name = checkDomain(c.req.param("domain").toLowerCase());
    d.domains.remove(app, name, c.var.user.id);
    deps.logger.info("domain.remove", { app: app.name, domain: name, user: c.var.user.email });
    await d.changed(app, { added: [], removed: [name] });
    return c.json({ domain: name, removed: true });
  });

  return r;
}
