import { Hono } from "hono";
import { BeamstalkError, badRequest, conflict, forbidden, unauthorized } from "../lib/errors.ts";
import { checkEmail, checkPassword } from "../lib/validate.ts";
import type { User } from "../state/index.ts";
import { requireUser } from "./auth.ts";
import { type ApiDeps, attemptOf, type Ctx, type Env, readJson } from "./context.ts";
import { checkSecondFactor, statusJson, verifyPassword } from "./mfa.ts";
import { limited, throttleOf } from "./throttle.ts";

export const userJson = (u: User) => ({ email: u.email, admin: u.isAdmin, created_at: u.createdAt });

/** Verifying against this when the email is unknown keeps login's timing the same either way. */
let dummyHash: Promise<string> | undefined;

/** Public routes: signup and login. */
export function sessionRoutes(deps: ApiDeps) {
  const r = new Hono<Env>();
  const { state } = deps;

  r.post("/signup", async (c) => {
    const body = await readJson(c);
    return limited(throttleOf(deps), "password", attemptOf(c, body.email), () => signup(c, body));
  });

  async function signup(c: Ctx, body: Record<string, unknown>) {
    const email = checkEmail(body.email);
    const passwordHash = await Bun.password.hash(checkPassword(body.password), "argon2id");
    const local = c.env?.transport === "unix";
    const user = state.transaction(() => {
      if (state.users.byEmail(email)) throw conflict(`an account for ${email} exists`, "run `beamstalk login`");
      if (state.users.count() === 0) {
        const token = typeof body.setup_token === "string" ? body.setup_token : "";
        if (!local && !deps.setupToken.matches(token)) {
          throw forbidden(
            "this server has no admin yet: claiming it needs the setup token",
            `pass the token from ${deps.setupToken.location} (--setup-token-file), or sign up over the local socket`,
          );
        }
        const admin = state.users.create({ email, passwordHash, isAdmin: true });
        deps.setupToken.consume();
        return admin;
      }
      const invite = typeof body.invite === "string" ? body.invite : "";
      if (!invite || !state.invites.consume(invite, email)) {
        throw forbidden(
          invite ? "the invite code is not valid for this email (wrong, used or expired)" : "signing up needs an invite",
          "ask an admin to run `beamstalk invites:create " + email + "`",
        );
      }
      return state.users.create({ email, passwordHash, isAdmin: false });
    });
    deps.logger.info("account.signup", { user: user.email, admin: user.isAdmin });
    const issued = state.apiKeys.issue(user.id);
    return c.json({ user: userJson(user), api_key: issued.key, expires_at: issued.expiresAt, ...setupFlag(user) }, 201);
  }

  r.post("/login", async (c) => {
    const body = await readJson(c);
    return limited(throttleOf(deps), "password", attemptOf(c, body.email), () => login(c, body));
  });

  async function login(c: Ctx, body: Record<string, unknown>) {
    const email = typeof body.email === "string" ? body.email.toLowerCase() : "";
    const password = typeof body.password === "string" ? body.password : "";
    const user = email ? state.users.byEmail(email) : null;
    const hash = user ? state.users.passwordHash(user.id)! : await (dummyHash ??= Bun.password.hash("not a password", "argon2id"));
    const ok = (await Bun.password.verify(password, hash)) && user !== null;
    if (!ok || !user) {
      deps.logger.warn("account.login_failed", { user: email || undefined });
      throw unauthorized("wrong email or password");
    }
    let factor: ReturnType<typeof checkSecondFactor> | null = null;
    if (state.mfa.status(user.id).active) {
      // Asking for the code is not a failed attempt: answered, not thrown, so the limits take nothing.
      if (body.code === undefined || body.code === "") return c.json(mfaRequired().toBody(), 401);
      factor = checkSecondFactor(deps, user, body.code);
    }
    const issued = state.apiKeys.issue(user.id);
    deps.logger.info("account.login", { user: user.email, ...(factor ? { mfa: factor.kind } : {}) });
    return c.json({
      user: userJson(user),
      api_key: issued.key,
      expires_at: issued.expiresAt,
      ...(factor?.kind === "recovery_code" ? { recovery_codes_left: factor.recoveryCodesLeft } : {}),
      ...setupFlag(user),
    });
  }

  /** Tells the CLI that this account's new key reaches only the MFA routes until MFA is on. */
  const setupFlag = (user: User) => (state.mfa.mustActivate(user.id) ? { mfa_setup_required: true } : {});

  return r;
}

/** Routes about the caller's own account; each requires an API key. */
export function accountRoutes(deps: ApiDeps) {
  const r = new Hono<Env>();
  const { state } = deps;
  const auth = requireUser(deps);
  /** What an account that must still turn on MFA may do besides that. */
  const own = requireUser(deps, { mfaSetup: true });

  r.get("/account", own, (c) => c.json({ ...userJson(c.var.user), mfa: statusJson(state, c.var.user) }));

  r.post("/logout", own, (c) => {
    state.apiKeys.revoke(c.var.keyId);
    return c.body(null, 204);
  });

  r.post("/account/api_key/reset", own, (c) => {
    const issued = state.apiKeys.reset(c.var.user.id);
    deps.logger.info("account.api_key_reset", { user: c.var.user.email });
    return c.json({ api_key: issued.key, expires_at: issued.expiresAt });
  });

  r.post("/account/password", own, async (c) => {
    const body = await readJson(c);
    const next = checkPassword(body.new_password);
    await limited(throttleOf(deps), "password", attemptOf(c, c.var.user.email), () => verifyPassword(state, c.var.user, body.current_password, "current password"));
    state.users.setPasswordHash(c.var.user.id, await Bun.password.hash(next, "argon2id"));
    deps.logger.info("account.password_changed", { user: c.var.user.email });
    return c.body(null, 204);
  });

  /** `DELETE /api/account?confirm=EMAIL`: only an account that owns no app, and never the server's last admin. */
  r.delete("/account", own, (c) => {
    const user = c.var.user;
    if (c.req.query("confirm") !== user.email) throw badRequest(`destroying the account ${user.email} needs confirmation`, `run again with --confirm ${user.email}`);
    const owned = state.apps.ownedBy(user.id);
    if (owned.length > 0) {
      throw conflict(`${user.email} still owns ${owned.length === 1 ? "an app" : `${owned.length} apps`}: ${owned.join(", ")}`, "destroy them first (`beamstalk apps:destroy -a APP --confirm APP`)");
    }
    if (user.isAdmin && state.users.adminCount() === 1) throw conflict(`${user.email} is the only admin of this server`, "the server needs an admin; keep this account");
    state.users.destroy(user.id);
    deps.logger.info("account.destroyed", { user: user.email });
    return c.body(null, 204);
  });

  r.post("/invites", auth, async (c) => {
    if (!c.var.user.isAdmin) throw forbidden("only admins can invite", "ask an admin of this server");
    const email = checkEmail((await readJson(c)).email);
    if (state.users.byEmail(email)) throw conflict(`an account for ${email} exists`);
    const invite = state.invites.create(email, c.var.user.id);
    deps.logger.info("account.invite", { by: c.var.user.email, email });
    return c.json({ email, code: invite.code, expires_at: invite.expiresAt }, 201);
  });

  return r;
}

function mfaRequired(): BeamstalkError {
  return new BeamstalkError(
    "mfa_required",
    "this account uses multi-factor authentication: a code is needed",
    "give the code your authenticator app shows (`beamstalk login --code`), or one of your recovery codes",
  );
}
