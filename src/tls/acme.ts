import * as acme from "acme-client";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { Agent } from "node:https";
import { dirname } from "node:path";
import { Secret } from "../lib/secret.ts";
import type { Challenges } from "./challenges.ts";

export const LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory";

export interface AcmeOptions {
  /** The ACME directory (default: Let's Encrypt production). */
  directoryUrl?: string;
  /** The account's contact address. */
  email?: string;
  /** Where the account key lives (created, mode 0600, on first use): `<data>/certs/account.key`. */
  accountKeyFile: string;
  /** A PEM CA to trust for the directory's HTTPS (a private CA such as Pebble's); default: the system's. */
  directoryCa?: string;
  /** acme-client's polling back-off floor in ms (its default, 5 s, is slow against a test CA). */
  pollMinMs?: number;
}

/** What the scheduler asks of a certificate authority; tests may pass their own. */
export interface Issuer {
  issue(hostname: string): Promise<{ cert: string; key: Secret }>;
}

/**
 * Orders certificates over ACME (acme-client) with HTTP-01 challenges answered
 * by `challenges` on the HTTP port. One ECDSA P-256 key per certificate.
 */
export class AcmeIssuer implements Issuer {
  #client: acme.Client | undefined;
  #account: Promise<unknown> | undefined;

  constructor(
    private readonly options: AcmeOptions,
    private readonly challenges: Challenges,
  ) {
    // acme-client talks through its own axios instance: the one place to add trust for a private CA.
    if (options.directoryCa) acme.axios.defaults.httpsAgent = new Agent({ ca: options.directoryCa, keepAlive: true });
  }

  async issue(hostname: string): Promise<{ cert: string; key: Secret }> {
    const client = this.#clientOnce();
    await this.#registerOnce(client);
    const key = await acme.crypto.createPrivateEcdsaKey("P-256");
    const [, csr] = await acme.crypto.createCsr({ commonName: hostname, altNames: [hostname] }, key);
    const tokens: string[] = [];
    try {
      const cert = await client.auto({
        csr,
        ...(this.options.email ? { email: this.options.email } : {}),
        termsOfServiceAgreed: true,
        challengePriority: ["http-01"],
        // Its self-check would fetch our own name from here, which need not resolve to us.
        skipChallengeVerification: true,
        challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
          tokens.push(challenge.token);
          this.challenges.set(challenge.token, keyAuthorization);
        },
        challengeRemoveFn: async (_authz, challenge) => this.challenges.delete(challenge.token),
      });
      return { cert, key: new Secret(key.toString()) };
    } finally {
      for (const token of tokens) this.challenges.delete(token);
    }
  }

  /** Registers (or finds) the account once: concurrent orders would each race to create it. */
  #registerOnce(client: acme.Client): Promise<unknown> {
    this.#account ??= client
      .createAccount({ termsOfServiceAgreed: true, ...(this.options.email ? { contact: [`mailto:${this.options.email}`] } : {}) })
      .catch((err: unknown) => {
        // An existing account comes back as HTTP 200 and acme-client then sends an update, which
        // a CA may refuse as empty (Pebble does without a contact); the account URL is known by then.
        if (hasAccountUrl(client)) return;
        this.#account = undefined;
        throw err;
      });
    return this.#account;
  }

  #clientOnce(): acme.Client {
    this.#client ??= new acme.Client({
      directoryUrl: this.options.directoryUrl ?? LETS_ENCRYPT,
      accountKey: accountKey(this.options.accountKeyFile),
      ...(this.options.pollMinMs !== undefined ? { backoffMin: this.options.pollMinMs, backoffMax: Math.max(this.options.pollMinMs * 8, 1000) } : {}),
    });
    return this.#client;
  }
}

/** The ACME account key: read, or made once (EC P-256) and kept mode 0600. */
function accountKey(file: string): Buffer {
  if (existsSync(file)) return readFileSync(file);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pem = Buffer.from(privateKey.export({ type: "pkcs8", format: "pem" }) as string);
  writeFileSync(file, pem, { mode: 0o600, flag: "wx" });
  return pem;
}

function hasAccountUrl(client: acme.Client): boolean {
  try {
    return client.getAccountUrl() !== "";
  } catch {
    return false;
  }
}
