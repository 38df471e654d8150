import type { Cli } from "./context.ts";
import { prompt, readStdin } from "./prompt.ts";

/** The flags every command that takes an account's password has. */
export const credentialArgs = {
  email: { type: "string", description: "account email (prompted on a terminal)" },
  password: { type: "string", description: "password (prompted on a terminal; BEAMSTALK_PASSWORD also works)" },
  "password-stdin": { type: "boolean", description: "read the password from standard input" },
} as const;

export const codeArg = {
  code: {
    type: "string",
    description: "the code your authenticator app shows, or a recovery code (prompted on a terminal; BEAMSTALK_MFA_CODE also works)",
  },
} as const;

export const CODE_PROMPT = "Code from your authenticator app (or a recovery code): ";

export async function email(args: { email?: string }): Promise<string> {
  return args.email || (await prompt("Email: "));
}

/** Flag, then standard input, then BEAMSTALK_PASSWORD, then a hidden prompt. */
export async function password(args: { password?: string; "password-stdin"?: boolean }, cli: Cli, label = "Password: "): Promise<string> {
  if (args.password) return args.password;
  if (args["password-stdin"]) return readStdin();
  if (cli.env.BEAMSTALK_PASSWORD) return cli.env.BEAMSTALK_PASSWORD;
  return prompt(label, { hidden: true });
}

/** --code, else BEAMSTALK_MFA_CODE, else a prompt on a terminal. */
export function givenCode(args: { code?: string }, cli: Cli): string | undefined {
  return args.code || cli.env.BEAMSTALK_MFA_CODE || undefined;
}

export async function secondFactorCode(args: { code?: string }, cli: Cli): Promise<string> {
  return givenCode(args, cli) ?? (await prompt(CODE_PROMPT));
}
