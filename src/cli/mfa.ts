import QRCode from "qrcode";
import { BeamstalkError } from "../lib/errors.ts";
import { codeArg, password, secondFactorCode } from "./credentials.ts";
import { command } from "./define.ts";
import { info, printRecord } from "./output.ts";
import { askLine } from "./prompt.ts";

const passwordArg = {
  password: { type: "string", description: "your password (prompted on a terminal; BEAMSTALK_PASSWORD also works)" },
} as const;

/** How many codes a person at a terminal may try before the command gives up (the activation stays open 10 minutes). */
const TERMINAL_TRIES = 3;

function printRecoveryCodes(codes: string[]): void {
  process.stdout.write(codes.join("\n") + "\n");
  info(
    `Keep these ${codes.length} recovery codes somewhere safe, apart from your phone: each works once in place of a code, ` +
      "and they are not shown again (`beamstalk account:mfa:recovery_codes:regenerate` makes new ones).",
  );
}

export const mfaActivate = command({
  name: "account:mfa:activate",
  description:
    "Turn on multi-factor authentication (TOTP): shows a QR code and otpauth:// URI for your authenticator app, asks for its current code (a line on standard input when not on a terminal), then prints your recovery codes once",
  args: passwordArg,
  async run(args, cli) {
    const client = cli.client();
    const begun = await client.post<{ otpauth_uri: string; secret: string; expires_at: string }>("/api/account/mfa/activate", {
      password: await password(args, cli),
    });
    const qr = await QRCode.toString(begun.otpauth_uri, { type: "terminal", small: true, errorCorrectionLevel: "M" });
    process.stderr.write(qr);
    info("Scan this QR code with your authenticator app, or add this URI (or the secret by hand):");
    info(`  ${begun.otpauth_uri}`);
    info(`  secret: ${begun.secret}  (SHA-1, 6 digits, every 30 s)`);
    const tries = process.stdin.isTTY ? TERMINAL_TRIES : 1;
    for (let attempt = 1; ; attempt++) {
      const code = await askLine("Code from your authenticator app: ");
      try {
        const done = await client.post<{ recovery_codes: string[] }>("/api/account/mfa/activate/confirm", { code });
        info("Multi-factor authentication is on: `beamstalk login` will ask for a code. Your API keys keep working.");
        printRecoveryCodes(done.recovery_codes);
        return;
      } catch (err) {
        const retry = err instanceof BeamstalkError && (err.code === "unauthorized" || err.code === "bad_request") && attempt < tries;
        if (!retry) throw err;
        info(`error: ${err.message}`);
      }
    }
  },
});

export const mfaDeactivate = command({
  name: "account:mfa:deactivate",
  description: "Turn off multi-factor authentication: needs your password and a current code or a recovery code",
  args: { ...passwordArg, ...codeArg },
  async run(args, cli) {
    const client = cli.client();
    const body = { password: await password(args, cli), code: await secondFactorCode(args, cli) };
    await client.post("/api/account/mfa/deactivate", body);
    info("Multi-factor authentication is off; your recovery codes no longer work.");
  },
});

export const mfaRecoveryCodes = command({
  name: "account:mfa:recovery_codes:regenerate",
  description: "New recovery codes for multi-factor authentication (needs a code); the old ones stop working",
  args: codeArg,
  data: true,
  async run(args, cli) {
    const res = await cli.client().post<{ recovery_codes: string[] }>("/api/account/mfa/recovery_codes", { code: await secondFactorCode(args, cli) });
    cli.print(res, () => printRecoveryCodes(res.recovery_codes));
  },
});

export const mfaRequire = command({
  name: "account:mfa:require",
  description:
    "Show or set whether this server requires multi-factor authentication of every account (admins, once their own is on; root with --socket); an account without it can then only turn it on",
  args: {
    on: { type: "boolean", description: "require it" },
    off: { type: "boolean", description: "stop requiring it" },
    socket: { type: "string", description: "talk to the daemon over its unix socket (root on the server; no API key needed)" },
  },
  data: true,
  async run(args, cli) {
    if (args.on && args.off) throw new BeamstalkError("usage", "--on and --off exclude each other");
    const client = args.socket ? cli.anonymous(args.socket) : cli.client();
    if (!args.on && !args.off) {
      const res = await client.get<{ required: boolean }>("/api/server/mfa");
      return cli.print(res, () => printRecord({ "mfa required": res.required ? "yes: every account must turn it on" : "no" }));
    }
    const res = await client.request<{ required: boolean }>("PUT", "/api/server/mfa", { required: Boolean(args.on) });
    if (cli.json) cli.print(res, () => {});
    else info(res.required ? "Every account now needs multi-factor authentication; one without it can only turn it on." : "Multi-factor authentication is no longer required.");
  },
});
