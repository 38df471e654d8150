import { join } from "node:path";
import { Hono } from "hono";
import { notFound } from "../lib/errors.ts";
import { Secret } from "../lib/secret.ts";
import { checkAppName } from "../lib/validate.ts";
import type { ApiDeps, Env } from "./context.ts";

const RELEASE = /^[1-9][0-9]{0,9}$/;
const BEARER = /^Bearer ([A-Za-z0-9_-]{1,128})$/;
/** Stands in for a missing app, so an unknown app costs the same token check as a known one. */
const NO_APP = { id: -1, name: "-" };

/**
 * Slugs for replicas booting on any host (runner/boot.sh with BEAMSTALK_SLUG_URL),
 * mounted at /internal/slugs. `GET /<app>/<release>` with `Authorization: Bearer
 * <token>` (state/slug-tokens.ts) answers the release's slug file, streamed, with its
 * Content-Length. Unlike the rest of /internal it answers over TCP: a replica on
 * another host has no unix socket, and its token is all it has. Every refusal (no
 * token, a wrong one, an unknown app or release, a slug gone from disk) is the same
 * 404, so a caller without the token learns nothing of which apps exist.
 */
export function slugRoutes(deps: ApiDeps) {
  const r = new Hono<Env>();

  r.get("/:app/:release", async (c) => {
    const name = checkAppName(c.req.param("app"));
    const version = c.req.param("release");
    const presented = BEARER.exec(c.req.header("authorization") ?? "")?.[1];
    if (!RELEASE.test(version) || presented === undefined) throw noSuchSlug();
    const app = deps.state.apps.byName(name);
    if (!deps.state.slugTokens.matches(app ?? NO_APP, Number(version), new Secret(presented)) || !app) {
      deps.logger.warn("slug.refused", { app: name, release: Number(version) });
      throw noSuchSlug();
    }
    const release = servedRelease(deps, app.id, Number(version));
    const file = release?.slug ? Bun.file(join(deps.slugsDir, app.name, `${release.slug}.tar.gz`)) : null;
    if (!file || !(await file.exists())) throw noSuchSlug();
    deps.logger.info("slug.served", { app: app.name, release: Number(version), bytes: file.size });
    return new Response(file, {
      headers: { "content-type": "application/gzip", "content-length": String(file.size), "cache-control": "no-store" },
    });
  });

  return r;
}

/**
 * The release whose slug a replica of `version` boots: its own, unless a hot upgrade
 * carried that release's replicas onto the serving one (DESIGN §2). A replica that
 * Swarm starts again, on any host, then boots the code its peers run, not the code
 * its spec was first made with.
 */
function servedRelease(deps: ApiDeps, appId: number, version: number) {
  const current = deps.state.releases.current(appId);
  if (current && current.version !== version && current.slug && deps.state.releases.lineage(appId, current.version).has(version)) return current;
  return deps.state.releases.get(appId, version);
}

function noSuchSlug() {
  return notFound("no such slug");
}
