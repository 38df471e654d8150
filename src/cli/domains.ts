import { readFileSync } from "node:fs";
import { BeamstalkError } from "../lib/errors.ts";
import { enc } from "./context.ts";
import { command } from "./define.ts";
import { info, printTable } from "./output.ts";

interface CertificateJson {
  state: "none" | "pending" | "issued" | "failed";
  source: "acme" | "manual" | null;
  expires_at: string | null;
  last_error: string | null;
  next_attempt_at: string | null;
}

interface DomainJson {
  domain: string;
  custom: boolean;
  certificate: CertificateJson;
}

/** What the CERTIFICATE column says: the state, and for a failure why and when it retries. */
export function describeCertificate(c: CertificateJson): string {
  if (c.state === "failed") {
    const retry = c.next_attempt_at ? `, retrying at ${c.next_attempt_at}` : "";
    return `failed${c.expires_at ? " (previous certificate still serving)" : ""}: ${c.last_error ?? "unknown error"}${retry}`;
  }
  return c.source === "manual" ? "issued (manual)" : c.state;
}

export const domains = command({
  name: "domains",
  description: "List an app's domains with their TLS certificate state (none, pending, issued, failed) and expiry",
  app: true,
  data: true,
  async run(_args, cli) {
    const name = await cli.app();
    const list = await cli.client().get<DomainJson[]>(`/api/apps/${enc(name)}/domains`);
    const rows = list.map((d) => ({ domain: d.domain, certificate: describeCertificate(d.certificate), expires: d.certificate.expires_at }));
    cli.print(list, () => printTable(rows, ["domain", "expires", "certificate"], `${name} has no domains: beamstalk domains:add www.example.com`));
  },
});

export const domainsAdd = command({
  name: "domains:add",
  description: "Serve an app at a custom domain (point its DNS at this server); a certificate is ordered automatically",
  app: true,
  data: true,
  args: { domain: { type: "positional", required: true, description: "the fully qualified domain, e.g. www.example.com" } },
  async run(args, cli) {
    const name = await cli.app();
    const added = await cli.client().post<DomainJson>(`/api/apps/${enc(name)}/domains`, { domain: args.domain.toLowerCase() });
    cli.print(added, () => info(`Added ${added.domain} to ${name}. Point its DNS (A/AAAA or CNAME) at this server; the certificate is ordered over ACME.`));
  },
});

export const domainsRemove = command({
  name: "domains:remove",
  description: "Stop serving an app at a custom domain (its certificate is dropped)",
  app: true,
  args: { domain: { type: "positional", required: true, description: "the domain" } },
  async run(args, cli) {
    const name = await cli.app();
    await cli.client().delete(`/api/apps/${enc(name)}/domains/${enc(args.domain.toLowerCase())}`);
    info(`Removed ${args.domain} from ${name}.`);
  },
});

export const certsAdd = command({
  name: "certs:add",
  description: "Install your own certificate for one of an app's domains (it is served at once and never renewed by ACME)",
  app: true,
  data: true,
  args: {
    domain: { type: "positional", required: true, description: "the app's domain" },
    cert: { type: "string", required: true, description: "PEM certificate chain file, leaf first" },
    key: { type: "string", required: true, description: "PEM private key file" },
  },
  async run(args, cli) {
    const read = (file: string, what: string) => {
      try {
        return readFileSync(file, "utf8");
      } catch {
        throw new BeamstalkError("usage", `cannot read the ${what} file ${file}`);
      }
    };
    const cert = read(args.cert, "certificate");
    const key = read(args.key, "key");
    const name = await cli.app();
    const res = await cli.client().post<CertificateJson>(`/api/apps/${enc(name)}/certs`, { domain: args.domain.toLowerCase(), cert, key });
    cli.print(res, () => info(`Installed a certificate for ${args.domain} on ${name}, valid until ${res.expires_at}.`));
  },
});

export const certsRenew = command({
  name: "certs:renew",
  description: "Order a new certificate (and key) for one of an app's domains now, e.g. after a key compromise; waits until it is served or says why the CA refused",
  app: true,
  data: true,
  args: { domain: { type: "positional", required: true, description: "the app's domain" } },
  async run(args, cli) {
    const name = await cli.app();
    const res = await cli.client().post<CertificateJson>(`/api/apps/${enc(name)}/certs/${enc(args.domain.toLowerCase())}/renew`);
    cli.print(res, () =>
      info(
        res.state === "issued"
          ? `Renewed the certificate of ${args.domain} on ${name}; the new one is served, valid until ${res.expires_at}.`
          : `The certificate authority is still working on ${args.domain}; \`beamstalk domains\` shows when it is issued.`,
      ),
    );
  },
});

export const certsRemove = command({
  name: "certs:remove",
  description: "Remove the certificate of one of an app's domains (manual or ACME); while the domain stays on the app, automatic TLS orders a new one",
  app: true,
  data: true,
  args: { domain: { type: "positional", required: true, description: "the app's domain" } },
  async run(args, cli) {
    const name = await cli.app();
    const res = await cli.client().delete<CertificateJson>(`/api/apps/${enc(name)}/certs/${enc(args.domain.toLowerCase())}`);
    cli.print(res, () =>
      info(`Removed the certificate of ${args.domain} on ${name}.${res.state === "pending" ? " A new one is being ordered over ACME; `beamstalk domains` shows its state." : ""}`),
    );
  },
});
