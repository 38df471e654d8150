import { Hono } from "hono";
import { BeamstalkError, type ErrorCode, badRequest, conflict, forbidden, unauthorized } from "../lib/errors.ts";
import { otpauthUri } from "../lib/totp.ts";
import type { SecondFactorRefusal, State, User } from "../state/index.ts";
import { requireUser } from "./auth.ts";
import { type ApiDeps, attemptOf, type Ctx, type Env, readJson } from "./context.ts";
import { limited, throttleOf } from "./throttle.ts";

const APP_CODE_HINT = "enter the code your authenticator app shows now, or one of your recovery codes";

/** What each refusal tells the user: the error's code, message and hint. None of them names the code or the secret. */
const REFUSALS: Record<SecondFactorRefusal, [ErrorCode, string, string]> = {
  malformed: ["bad_request", "a code is the 6 digits your authenticator app shows, or a recovery code (xxxx-xxxx-xxxx-xxxx)", APP_CODE_HINT],
  wrong: ["unauthorized", "the code is not valid", APP_CODE_HINT],
  replayed: ["unauthorized", "this code has been used already", "a code works once: wait for the next one your app shows (every 30 s), or use another recovery code"],
  expired: ["unauthorized", "the code has expired", "enter the code your app shows now; if that is the one you entered, the clocks of your phone and the server differ by more than 30 s"],
  early: ["unauthorized", "the code is not valid yet", "the clocks of your phone and the server differ by more than 30 s: set both to the network time"],
  not_active: ["conflict", "multi-factor authentication is not on for this account", "run `beamstalk account:mfa:activate`"],
  no_activation: ["conflict", "no activation is waiting for a code", "run `beamstalk account:mfa:activate`: it shows a new secret"],
  activation_expired: ["conflict", "the activation has expired (it waits 10 minutes for the first code)", "run `beamstalk account:mfa:activate` again: it shows a new secret"],
};

export function secondFactorError(reason: SecondFactorRefusal): BeamstalkError {
  return new BeamstalkError(...REFUSALS[reason]);
}

/** The account's second factor from a request body's `code`: a TOTP code or a recovery code, used up. Throws when refused. */
export function checkSecondFactor(deps: ApiDeps, user: User, code: unknown): { kind: "totp" | "recovery_code"; recoveryCodesLeft: number } {
  const checked = deps.state.mfa.verify(user.id, typeof code === "string" ? code : "");
  if (checked.ok) return checked;
  deps.logger.warn("account.mfa_failed", { user: user.email, reason: checked.reason });
  throw secondFactorError(checked.reason);
}

/** The account's password, checked in constant time by argon2id; a wrong one throws 401. */
export async function verifyPassword(state: State, user: User, given: unknown, what = "password"): Promise<void> {
  const ok = typeof given === "string" && given !== "" && (await Bun.password.verify(given, state.users.passwordHash(user.id)!));
  if (!ok) throw unauthorized(`${what} is wrong`);
}

/**
 * /api/account/mfa: the caller's own second factor. Turning it on and off needs
 * the password; everything that takes a code counts its failures against the
 * sign-in limits (throttle.ts), by address and by account.
 */
export function mfaRoutes(deps: ApiDeps) {
  const r = new Hono<Env>();
  const { state, logger } = deps;
  r.use(requireUser(deps, { mfaSetup: true }));
  const guarded = <T>(c: Ctx, fn: () => Promise<T>) => limited(throttleOf(deps), "password", attemptOf(c, c.var.user.email), fn);

  r.get("/", (c) => c.json(statusJson(state, c.var.user)));

  r.post("/activate", async (c) => {
    const user = c.var.user;
    const body = await readJson(c);
    if (state.mfa.status(user.id).active) {
      throw conflict("multi-factor authentication is already on", "`beamstalk account:mfa:recovery_codes:regenerate` gives new recovery codes; `account:mfa:deactivate` turns it off");
    }
    await guarded(c, () => verifyPassword(state, user, body.password));
    const begun = state.mfa.begin(user.id);
    if (!begun) throw conflict("multi-factor authentication is already on");
    const secret = begun.secret.reveal();
    logger.info("account.mfa_activation_started", { user: user.email });
    return c.json({ otpauth_uri: otpauthUri(secret, user.email), secret, expires_at: begun.expiresAt }, 201);
  });

  r.post("/activate/confirm", async (c) => {
    const user = c.var.user;
    const body = await readJson(c);
    const codes = await guarded(c, async () => {
      const done = state.mfa.confirm(user.id, typeof body.code === "string" ? body.code : "");
      if (done.ok) return done.recoveryCodes;
      logger.warn("account.mfa_failed", { user: user.email, reason: done.reason });
      if (done.reason === "malformed") throw badRequest("the code is the 6 digits your authenticator app shows", "scan the QR code or enter the secret in the app first");
      throw secondFactorError(done.reason);
    });
    logger.info("account.mfa_activated", { user: user.email });
    return c.json({ recovery_codes: codes });
  });

  r.post("/deactivate", async (c) => {
    const user = c.var.user;
    const body = await readJson(c);
    if (!state.mfa.status(user.id).active) throw secondFactorError("not_active");
    if (state.mfa.required()) {
      throw forbidden("this server requires multi-factor authentication of every account", "an admin can lift the requirement: `beamstalk account:mfa:require --off`");
    }
    await guarded(c, async () => {
      await verifyPassword(state, user, body.password);
      checkSecondFactor(deps, user, body.code);
    });
    state.mfa.deactivate(user.id);
    logger.info("account.mfa_deactivated", { user: user.email });
    return c.body(null, 204);
  });

  r.post("/recovery_codes", async (c) => {
    const user = c.var.user;
    const body = await readJson(c);
    if (!state.mfa.status(user.id).active) throw secondFactorError("not_active");
    await guarded(c, async () => void checkSecondFactor(deps, user, body.code));
    const codes = state.mfa.regenerateRecoveryCodes(user.id);
    logger.info("account.mfa_recovery_codes_regenerated", { user: user.email });
    return c.json({ recovery_codes: codes });
  });

  return r;
}

/**
 * /api/server/mfa: whether every account must use MFA. Admins change it over
 * TCP, and only once their own MFA is on (or they would lock themselves out);
 * over the unix socket (root on the host) it needs no key, so root can always
 * lift it.
 */
export function mfaPolicyRoutes(deps: ApiDeps) {
  const r = new Hono<Env>();
  const { state, logger } = deps;
  r.use(async (c, next) => {
    if (c.env?.transport === "unix" && !c.req.header("authorization")) return next();
    return requireUser(deps, { mfaSetup: true })(c, next);
  });

  r.get("/", (c) => c.json({ required: state.mfa.required() }));

  r.put("/", async (c) => {
    const body = await readJson(c);
    if (typeof body.required !== "boolean") throw badRequest("required must be true or false");
    const user = c.get("user") as User | undefined;
    if (user) {
      if (!user.isAdmin) throw forbidden("only admins change what the server requires", "ask an admin of this server");
      if (body.required && !state.mfa.status(user.id).active) {
        throw conflict("turn on multi-factor authentication for your own account first", "run `beamstalk account:mfa:activate`; requiring it without would lock you out");
      }
    }
    state.mfa.setRequired(body.required);
    logger.info("server.mfa_required", { required: body.required, by: user?.email ?? "unix socket" });
    return c.json({ required: body.required });
  });

  return r;
}

export function statusJson(state: State, user: User) {
  const status = state.mfa.status(user.id);
  return {
    active: status.active,
    activated_at: status.activatedAt,
    recovery_codes_left: status.recoveryCodesLeft,
    required_by_server: state.mfa.required(),
  };
}
