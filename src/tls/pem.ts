import { X509Certificate, createPrivateKey } from "node:crypto";
import { badRequest } from "../lib/errors.ts";

export interface CertificateInfo {
  notBefore: Date;
  notAfter: Date;
  /** DNS names the leaf covers (subjectAltName, else the common name). */
  names: string[];
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM chain, leaf first. */
export function splitChain(pem: string): string[] {
  return pem.match(PEM_CERT) ?? [];
}

/** Reads the leaf of a PEM chain; throws bad_request when it is not one. */
export function certificateInfo(pem: string): CertificateInfo {
  const leaf = splitChain(pem)[0];
  if (!leaf) throw badRequest("the certificate file holds no PEM certificate", "give the PEM chain, leaf first (-----BEGIN CERTIFICATE-----)");
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(leaf);
  } catch {
    throw badRequest("the certificate file holds an unreadable certificate");
  }
  const sans = (x509.subjectAltName ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.startsWith("DNS:"))
    .map((s) => s.slice(4).toLowerCase());
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x509.subject)?.[1]?.toLowerCase();
  return { notBefore: new Date(x509.validFrom), notAfter: new Date(x509.validTo), names: sans.length ? sans : cn ? [cn] : [] };
}

/** Whether the certificate's names cover a host name (a wildcard covers one label). */
export function covers(info: CertificateInfo, hostname: string): boolean {
  return info.names.some((name) => name === hostname || (name.startsWith("*.") && hostname.slice(hostname.indexOf(".") + 1) === name.slice(2) && hostname.indexOf(".") > 0));
}

/** Whether the private key belongs to the leaf certificate. Never puts the key in an error. */
export function keyMatches(certPem: string, keyPem: string): boolean {
  const leaf = splitChain(certPem)[0];
  if (!leaf) return false;
  try {
    return new X509Certificate(leaf).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}
