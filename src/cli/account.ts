import { readFileSync } from "node:fs";
import { BeamstalkError } from "../lib/errors.ts";
import type { Cli } from "./context.ts";
import { command } from "./define.ts";
import { CODE_PROMPT, codeArg, credentialArgs, email, givenCode, password } from "./credentials.ts";
import { info, printRecord } from "./output.ts";
import { prompt } from "./prompt.ts";

interface UserJson {
  email: string;
  admin: boolean;
  created_at: string;
}
interface AccountJson extends UserJson {
  mfa: { active: boolean; recovery_codes_left: number; required_by_server: boolean };
}
interface KeyJson {
  user: UserJson;
  api_key: string;
  expires_at: string;
  /** Present when a recovery code was used to log in. */
  recovery_codes_left?: number;
  /** The server requires MFA and this account has none yet: the key reaches only the MFA routes. */
  mfa_setup_required?: boolean;
}

/** What a new key cannot do yet, or how many recovery codes are left, when the server said so. */
function afterSignIn(res: KeyJson): void {
  if (res.recovery_codes_left !== undefined) {
    info(`Used a recovery code: ${res.recovery_codes_left} left. \`beamstalk account:mfa:recovery_codes:regenerate\` makes new ones.`);
  }
  if (res.mfa_setup_required) {
    info("This server requires multi-factor authentication: run `beamstalk account:mfa:activate`. Until then your API key works only for that and your own account (`account`, `logout`, key and password changes).");
  }
}

export const signup = command({
  name: "signup",
  description: "Create an account: the first one claims the server as admin, later ones need an invite",
  args: {
    ...credentialArgs,
    invite: { type: "string", description: "invite code from an admin (BEAMSTALK_INVITE also works)" },
    "setup-token-file": { type: "string", description: "file holding the server's one-time setup token (first account only)" },
    socket: { type: "string", description: "talk to the daemon over its unix socket (on the server itself)" },
  },
  async run(args, cli) {
    const url = cli.serverUrl();
    const body: Record<string, string> = { email: await email(args), password: await password(args, cli) };
    const invite = args.invite || cli.env.BEAMSTALK_INVITE;
    if (invite) body.invite = invite;
    if (args["setup-token-file"]) {
      try {
        body.setup_token = readFileSync(args["setup-token-file"], "utf8").trim();
      } catch {
        throw new BeamstalkError("usage", `cannot read ${args["setup-token-file"]}`, "the setup token is in the server's data directory, readable by root");
      }
    }
    const res = await cli.anonymous(args.socket).post<KeyJson>("/api/signup", body);
    cli.remember(url, res.user.email, res.api_key);
    info(`Signed up and logged in as ${res.user.email}${res.user.admin ? " (admin of this server)" : ""}.`);
    afterSignIn(res);
  },
});

export const login = command({
  name: "login",
  description: "Log in: saves an API key (valid 365 days) to ~/.netrc and remembers the server URL; asks for a code when the account uses MFA",
  args: { ...credentialArgs, ...codeArg },
  async run(args, cli) {
    const url = cli.serverUrl();
    const client = cli.anonymous();
    const body = { email: await email(args), password: await password(args, cli) };
    const code = givenCode(args, cli);
    let res: KeyJson;
    try {
      res = await client.post<KeyJson>("/api/login", code === undefined ? body : { ...body, code });
    } catch (err) {
      // The password was right and the account uses MFA: ask for the code on a terminal (elsewhere the error says --code).
      if (code !== undefined || !(err instanceof BeamstalkError) || err.code !== "mfa_required" || !process.stdin.isTTY) throw err;
      res = await client.post<KeyJson>("/api/login", { ...body, code: await prompt(CODE_PROMPT) });
    }
    cli.remember(url, res.user.email, res.api_key);
    info(`Logged in as ${res.user.email}.`);
    afterSignIn(res);
  },
});

export const logout = command({
  name: "logout",
  description: "Log out: revokes this machine's API key and removes it from ~/.netrc",
  async run(_args, cli) {
    const url = cli.serverUrl();
    try {
      await cli.client().post("/api/logout");
    } catch (err) {
      // Already logged out, or the key is dead: removing it locally is all that is left to do.
      if (!(err instanceof BeamstalkError) || !["not_logged_in", "unauthorized", "api_key_expired"].includes(err.code)) throw err;
    }
    cli.forget(url);
  },
});

export const accountDestroy = command({
  name: "account:destroy",
  description: "Destroy your account, its API keys and SSH keys; needs --confirm EMAIL; refused while it owns apps, and for the server's last admin",
  args: { confirm: { type: "string", description: "your account's email, to confirm" } },
  async run(args, cli) {
    const client = cli.client();
    const me = await client.get<AccountJson>("/api/account");
    if (args.confirm !== me.email) throw new BeamstalkError("usage", `destroying the account ${me.email} needs confirmation`, `run again with --confirm ${me.email}`);
    await client.delete(`/api/account?confirm=${encodeURIComponent(args.confirm)}`);
    cli.forget(client.url);
    info(`Destroyed the account ${me.email}; its API key is removed from ~/.netrc.`);
  },
});

export const account = command({
  name: "account",
  description: "Show the account you are logged in as",
  data: true,
  async run(_args, cli) {
    const user = await cli.client().get<AccountJson>("/api/account");
    const { mfa } = user;
    const factor = mfa.active ? `on (${mfa.recovery_codes_left} recovery codes left)` : "off";
    cli.print(user, () =>
      printRecord({ email: user.email, admin: user.admin, created: user.created_at, mfa: factor + (mfa.required_by_server ? ", required by this server" : "") }),
    );
  },
});

export const apiKeyReset = command({
  name: "account:api_key:reset",
  aliases: ["reset_api_key"],
  description: "Replace your API key: every old key stops working at once (the new one goes to ~/.netrc)",
  data: true,
  async run(_args, cli) {
    const client = cli.client();
    const me = await client.get<UserJson>("/api/account");
    const res = await client.post<{ api_key: string; expires_at: string }>("/api/account/api_key/reset");
    cli.remember(client.url, me.email, res.api_key);
    if (cli.json) cli.print(res, () => {});
    else info(`API key reset; the new key is in ~/.netrc and expires ${res.expires_at}.`);
  },
});

export const passwordChange = command({
  name: "account:password:change",
  aliases: ["change_password"],
  description: "Change your password (prompts; BEAMSTALK_PASSWORD and BEAMSTALK_NEW_PASSWORD also work)",
  args: {
    "current-password": { type: "string", description: "current password" },
    "new-password": { type: "string", description: "new password" },
  },
  async run(args, cli) {
    const current = args["current-password"] || cli.env.BEAMSTALK_PASSWORD || (await prompt("Current password: ", { hidden: true }));
    const next = args["new-password"] || cli.env.BEAMSTALK_NEW_PASSWORD || (await prompt("New password: ", { hidden: true }));
    await cli.client().post("/api/account/password", { current_password: current, new_password: next });
    info("Password changed.");
  },
});

export const invitesCreate = command({
  name: "invites:create",
  description: "Invite someone to sign up (admins only); prints the one-time invite code",
  args: { email: { type: "positional", required: true, description: "who may sign up with it" } },
  data: true,
  async run(args, cli) {
    const res = await cli.client().post<{ email: string; code: string; expires_at: string }>("/api/invites", { email: args.email });
    cli.print(res, () => {
      process.stdout.write(res.code + "\n");
      info(`Invite for ${res.email}, valid until ${res.expires_at}: beamstalk signup --email ${res.email} --invite <code>`);
    });
  },
});
