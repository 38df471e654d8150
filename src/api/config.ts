import { Hono } from "hono";
import { BeamstalkError, badRequest } from "../lib/errors.ts";
import { checkAppName, checkConfigKey, checkConfigValue } from "../lib/validate.ts";
import type { App, Release } from "../state/index.ts";
import { requireUser } from "./auth.ts";
import { type ApiDeps, type Env, appFor, readJson } from "./context.ts";

const MAX_KEYS_PER_CHANGE = 500;

export const releaseJson = (rel: Release) => ({ version: rel.version, summary: rel.summary, status: rel.status });

/** Config vars. Values are secrets: they appear in responses to the app's users, never in logs. */
export function configRoutes(deps: ApiDeps) {
  const r = new Hono<Env>();
  const { state } = deps;
  r.use(requireUser(deps));

  r.get("/", (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "read");
    return c.json(state.config.get(app));
  });

  /** Body: `{"set": {"KEY": "value"}, "unset": ["KEY"]}`; everything is validated before anything is written. */
  r.patch("/", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    const body = await readJson(c);
    const set = parseSet(body.set);
    const unset = parseUnset(body.unset);
    if (Object.keys(set).length + unset.length === 0) throw badRequest("nothing to change", "give KEY=VALUE pairs to set or KEYs to unset");
    if (Object.keys(set).length + unset.length > MAX_KEYS_PER_CHANGE) throw badRequest(`at most ${MAX_KEYS_PER_CHANGE} keys per change`);
    const both = unset.filter((k) => k in set);
    if (both.length) throw badRequest(`${both.join(", ")} both set and unset`);
    const release = state.config.change(app, { set, unset }, c.var.user.id);
    deps.logger.info("config.change", { app: app.name, user: c.var.user.email, keys: [...Object.keys(set), ...unset].join(","), version: release.version });
    return c.json(releaseJson(await restart(deps, app, release, body.restart !== false)));
  });

  r.post("/copy", async (c) => {
    const { app: to } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    const fromName = checkAppName((await readJson(c)).from);
    const { app: from } = appFor(deps, c.var.user, fromName, "read");
    if (from.id === to.id) throw badRequest("copying an app's config onto itself changes nothing");
    const vars = state.config.get(from);
    if (Object.keys(vars).length === 0) throw badRequest(`${from.name} has no config vars to copy`);
    const release = state.config.change(to, { set: vars }, c.var.user.id, `Copy config from ${from.name}`);
    deps.logger.info("config.copy", { from: from.name, to: to.name, user: c.var.user.email, version: release.version });
    return c.json(releaseJson(await restart(deps, to, release, true)));
  });

  return r;
}

/**
 * A config change to an app that runs is rolled out like a deploy (zero
 * downtime); with restart=false it is only recorded and applies at the next
 * deploy or restart. The vars stay set even when the rollout fails.
 */
async function restart(deps: ApiDeps, app: App, release: Release, wanted: boolean): Promise<Release> {
  if (release.status !== "pending") return release;
  if (!wanted) {
    deps.state.releases.setStatus(app.id, release.version, "recorded");
    return deps.state.releases.get(app.id, release.version)!;
  }
  try {
    return await deps.deploy.redeploy(app, release);
  } catch (err) {
    throw new BeamstalkError(
      "deploy_failed",
      `config saved as v${release.version}, but it did not start: ${(err as Error).message}`,
      "the previous release keeps serving; `beamstalk releases` shows the state",
    );
  }
}

function parseSet(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw badRequest("`set` must be an object of KEY: value");
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) out[checkConfigKey(key)] = checkConfigValue(key, v);
  return out;
}

function parseUnset(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw badRequest("`unset` must be a list of keys");
  return [...new Set(value.map(checkConfigKey))];
}
