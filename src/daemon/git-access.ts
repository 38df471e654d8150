import { apiKeyFrom } from "../api/auth.ts";
import { type AuthThrottle, checkAttempt, failedAttempt } from "../api/throttle.ts";
import type { Authorization } from "../git/access.ts";
import type { State } from "../state/index.ts";

type Need = "read" | "write";

/** How the git servers (HTTP and SSH) ask who a caller is and what they may do: the API's rules. */
export function gitAccess(state: State, throttle: AuthThrottle) {
  return {
    /** Keys that are not valid count against the client's address, as on the API (throttle.ts). */
    async authenticate(req: Request, clientIp?: string) {
      const key = apiKeyFrom(req.headers.get("authorization") ?? undefined);
      if (!key) return null;
      const attempt = { address: clientIp ?? "unknown" };
      checkAttempt(throttle, "api_key", attempt);
      const found = state.apiKeys.lookup(key);
      if (found.status !== "valid") failedAttempt(throttle, "api_key", attempt);
      const user = found.status === "valid" ? state.users.byId(found.userId) : null;
      return user ? { id: user.id, email: user.email } : null;
    },
    userForFingerprint(fingerprint: string) {
      const id = state.sshKeys.ownerOf(fingerprint);
      const user = id === null ? null : state.users.byId(id);
      return user ? { id: user.id, email: user.email } : null;
    },
    appExists: (name: string) => state.apps.exists(name),
    authorize(who: { id: number }, name: string, need: Need): Authorization {
      const user = state.users.byId(who.id);
      const app = state.apps.byName(name);
      const role = user && app ? state.apps.roleOf(app, user) : null;
      if (!role) return "not_found";
      if (state.mfa.mustActivate(who.id)) return "mfa_setup";
      if (need === "write" && role === "viewer") return "forbidden";
      return "ok";
    },
  };
}
