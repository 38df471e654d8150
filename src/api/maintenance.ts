import { Hono } from "hono";
import { badRequest } from "../lib/errors.ts";
import { requireUser } from "./auth.ts";
import { type ApiDeps, type Env, appFor, readJson } from "./context.ts";

/**
 * Maintenance mode, at /api/apps/:app/maintenance. The app keeps running; the
 * router answers its hosts with a 503 maintenance page until it is turned off.
 */
export function maintenanceRoutes(deps: ApiDeps) {
  const r = new Hono<Env>();
  const { state } = deps;
  r.use(requireUser(deps));

  r.get("/", (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "read");
    return c.json({ app: app.name, enabled: state.maintenance.isOn(app) });
  });

  /** Body: `{"enabled": true}` or `{"enabled": false}`. */
  r.put("/", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    const enabled = (await readJson(c)).enabled;
    if (typeof enabled !== "boolean") throw badRequest("`enabled` must be true or false");
    const changed = state.maintenance.set(app, enabled, c.var.user.id);
    deps.routes.setMaintenance(app.name, enabled);
    if (changed) deps.logger.info(enabled ? "app.maintenance_on" : "app.maintenance_off", { app: app.name, user: c.var.user.email });
    return c.json({ app: app.name, enabled });
  });

  return r;
}
