import { Hono } from "hono";
import { badRequest, notFound } from "../lib/errors.ts";
import { checkEmail } from "../lib/validate.ts";
import { requireUser } from "./auth.ts";
import { type ApiDeps, type Env, appFor, readJson } from "./context.ts";

const ROLES = ["collaborator", "viewer"] as const;

/** Sharing an app. Owner and admins manage access; everyone with access can see who has it. */
export function accessRoutes(deps: ApiDeps) {
  const r = new Hono<Env>();
  const { state } = deps;
  r.use(requireUser(deps));

  r.get("/", (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "read");
    return c.json(state.access.list(app.id));
  });

  r.post("/", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "manage");
    const body = await readJson(c);
    const email = checkEmail(body.email);
    const role = body.role ?? "collaborator";
    if (!ROLES.includes(role as (typeof ROLES)[number])) throw badRequest("role must be collaborator or viewer");
    const target = state.users.byEmail(email);
    if (!target) throw notFound(`no account for ${email}`, `an admin can invite them: beamstalk invites:create ${email}`);
    if (target.id === app.ownerId) throw badRequest(`${email} owns ${app.name}`);
    state.access.grant(app.id, target, role as (typeof ROLES)[number], c.var.user.id);
    return c.json({ email: target.email, role }, 201);
  });

  r.delete("/:email", (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "manage");
    const email = checkEmail(c.req.param("email"));
    const target = state.users.byEmail(email);
    if (!target || !state.access.revoke(app.id, target, c.var.user.id)) {
      throw notFound(`${email} has no shared access to ${app.name}`, "`beamstalk access` lists who has");
    }
    return c.body(null, 204);
  });

  return r;
}
