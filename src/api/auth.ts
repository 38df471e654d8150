import type { MiddlewareHandler } from "hono";
import { BeamstalkError, unauthorized } from "../lib/errors.ts";
import { type ApiDeps, attemptOf, type Env } from "./context.ts";
import { checkAttempt, failedAttempt, throttleOf } from "./throttle.ts";

/**
 * Reads the API key from `Authorization: Bearer <key>`, or from Basic auth with
 * the key as password (any user name), which is what git sends from ~/.netrc.
 */
export function apiKeyFrom(header: string | undefined): string | null {
  if (!header) return null;
  const [scheme, value] = header.split(" ", 2);
  if (!value) return null;
  if (scheme?.toLowerCase() === "bearer") return value.trim();
  if (scheme?.toLowerCase() === "basic") {
    const decoded = Buffer.from(value.trim(), "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    return colon >= 0 ? decoded.slice(colon + 1) : null;
  }
  return null;
}

export interface UserOptions {
  /**
   * Also for an account that the server requires to turn on MFA and that has
   * not yet: the routes it needs for that (its account, MFA, logout, key and password changes). Every
   * other route answers such an account 403 mfa_setup_required.
   */
  mfaSetup?: boolean;
}

export function requireUser(deps: ApiDeps, options: UserOptions = {}): MiddlewareHandler<Env> {
  return async (c, next) => {
    const key = apiKeyFrom(c.req.header("authorization"));
    if (!key) throw new BeamstalkError("not_logged_in", "not logged in", "run `beamstalk login`");
    const attempt = attemptOf(c);
    checkAttempt(throttleOf(deps), "api_key", attempt);
    const found = deps.state.apiKeys.lookup(key);
    if (found.status !== "valid") failedAttempt(throttleOf(deps), "api_key", attempt);
    if (found.status === "expired") {
      throw new BeamstalkError("api_key_expired", "your API key has expired", "run `beamstalk login` for a new one");
    }
    const user = found.status === "valid" ? deps.state.users.byId(found.userId) : null;
    if (found.status !== "valid" || !user) {
      throw unauthorized("API key is not valid", "it may have been reset; run `beamstalk login`");
    }
    if (!options.mfaSetup && deps.state.mfa.mustActivate(user.id)) throw mfaSetupRequired();
    c.set("user", user);
    c.set("keyId", found.keyId);
    await next();
  };
}

function mfaSetupRequired(): BeamstalkError {
  return new BeamstalkError(
    "mfa_setup_required",
    "this server requires multi-factor authentication, and your account does not have it on yet",
    "run `beamstalk account:mfa:activate`; until then your API key works only for that and your own account (`account`, `logout`, key and password changes)",
  );
}
