import { Hono } from "hono";
import { generateAppName } from "../lib/app-names.ts";
import { BeamstalkError, badRequest, conflict } from "../lib/errors.ts";
import { checkAppName } from "../lib/validate.ts";
import type { App, Release, Role } from "../state/index.ts";
import { requireUser } from "./auth.ts";
import { type ApiDeps, type Env, appFor, readJson } from "./context.ts";

export function appRoutes(deps: ApiDeps) {
  const r = new Hono<Env>();
  const { state } = deps;
  r.use(requireUser(deps));

  const json = (app: App, role: Role) => ({
    name: app.name,
    owner: app.owner,
    role,
    created_at: app.createdAt,
    ...(deps.baseDomain ? { url: `http://${app.name}.${deps.baseDomain}` } : {}),
  });

  r.get("/", (c) => c.json(state.apps.listFor(c.var.user).map((a) => json(a, a.role))));

  r.post("/", async (c) => {
    const body = await readJson(c);
    let name: string;
    if (body.name === undefined || body.name === null || body.name === "") {
      name = generateAppName();
      for (let i = 0; i < 10 && state.apps.exists(name); i++) name = generateAppName();
    } else {
      name = checkAppName(body.name);
    }
    if (state.apps.exists(name)) throw conflict(`app name ${name} is taken`, "pick another name, or leave it out for a generated one");
    const app = state.apps.create(name, c.var.user);
    deps.logger.info("app.create", { app: name, user: c.var.user.email });
    deps.appCreated?.(app);
    return c.json(json(app, "owner"), 201);
  });

  r.get("/:app", (c) => {
    const { app, role } = appFor(deps, c.var.user, c.req.param("app"), "read");
    const latest = state.releases.list(app.id, 1)[0];
    return c.json({ ...json(app, role), release: latest?.version ?? null });
  });

  r.delete("/:app", async (c) => {
    const name = c.req.param("app");
    const { app } = appFor(deps, c.var.user, name, "manage");
    const confirm = c.req.query("confirm");
    if (confirm !== app.name) {
      throw badRequest(`destroying ${app.name} needs confirmation`, `run again with --confirm ${app.name}`);
    }
    state.apps.destroy(app);
    await deps.removeApp(app);
    deps.logger.info("app.destroy", { app: app.name, user: c.var.user.email });
    return c.body(null, 204);
  });

  r.get("/:app/activity", (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app"), "read");
    return c.json(
      state.activity.list(app.id).map((e) => ({ action: e.action, detail: e.detail, user: e.user, created_at: e.createdAt })),
    );
  });

  r.get("/:app/releases", (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app"), "read");
    return c.json(state.releases.list(app.id).map(releaseJson));
  });

  r.post("/:app/releases/rollback", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app"), "write");
    const body = await readJson(c);
    if (body.version !== undefined && (!Number.isSafeInteger(body.version) || (body.version as number) < 1)) {
      throw badRequest("version must be a release number such as 3", "`beamstalk releases` lists them");
    }
    try {
      const release = await deps.deploy.rollback(app, c.var.user, body.version as number | undefined);
      deps.logger.info("release.rollback", { app: app.name, user: c.var.user.email, version: release.version });
      return c.json(releaseJson(release));
    } catch (err) {
      if (err instanceof BeamstalkError) throw err;
      throw new BeamstalkError("deploy_failed", (err as Error).message, "the current release keeps serving; `beamstalk releases` lists the others");
    }
  });

  return r;
}

export const releaseJson = (rel: Release) => ({
  version: rel.version,
  summary: rel.summary,
  status: rel.status,
  git_sha: rel.gitSha,
  slug: rel.slug,
  process_types: rel.processTypes,
  created_by: rel.createdBy,
  created_at: rel.createdAt,
  /** A hot upgrade: the release whose running replicas it was installed into. */
  hot_from: rel.hotFrom,
});
