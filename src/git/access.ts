/**
 * Who may fetch from or push to an app's repository: one decision shared by
 * smart HTTP and SSH, with the messages git shows the user.
 */
export interface GitUser {
  id: number;
  email: string;
}

export type GitNeed = "read" | "write";
/** `mfa_setup`: the server requires MFA and the user has not turned it on (`beamstalk account:mfa:activate`). */
export type Authorization = "ok" | "not_found" | "forbidden" | "mfa_setup";

export interface GitAccessOptions {
  /** Whether the app exists at all; a push to an unknown app never creates anything. */
  appExists(app: string): boolean;
  /** The caller's role on the app: another user's app answers "not_found". */
  authorize(user: GitUser, app: string, need: GitNeed): Authorization;
}

export type AccessDecision = { ok: true } | { ok: false; status: 403 | 404; message: string };

export function decideAccess(options: GitAccessOptions, user: GitUser, app: string, need: GitNeed): AccessDecision {
  const verdict = options.appExists(app) ? options.authorize(user, app, need) : "not_found";
  if (verdict === "ok") return { ok: true };
  if (verdict === "mfa_setup") return { ok: false, status: 403, message: MFA_SETUP_MESSAGE };
  if (verdict === "forbidden") {
    return {
      ok: false,
      status: 403,
      message: `your access to app ${app} does not allow ${need === "write" ? "pushing" : "fetching"}; ask the app's owner for collaborator access`,
    };
  }
  return { ok: false, status: 404, message: `app ${app} not found; \`beamstalk apps\` lists the apps you can use` };
}

export const MFA_SETUP_MESSAGE =
  "this server requires multi-factor authentication, and your account does not have it on yet: run `beamstalk account:mfa:activate`";

/** The env a git process (and so the pre-receive hook) runs with. */
export function gitProcessEnv(user: GitUser, extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ["PATH", "HOME", "TMPDIR", "LANG"]) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return { ...env, ...extra, BEAMSTALK_USER_ID: String(user.id) };
}

/** GIT_PROTOCOL (from the Git-Protocol header or SSH env) only when it looks like git's `version=2`. */
export function safeGitProtocol(value: string | null | undefined): string | undefined {
  return value && value.length <= 256 && /^[A-Za-z0-9=:._-]+$/.test(value) ? value : undefined;
}
