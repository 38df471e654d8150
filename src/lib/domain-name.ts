import { badRequest } from "./errors.ts";

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Why a name is not a domain an app can be served at, or null when it is one:
 * lower case, labels of 1-63 letters, digits and inner '-', at least two labels,
 * at most 253 characters, no wildcard, not an IP address.
 */
export function domainProblem(name: string): string | null {
  if (name.length === 0) return "it is empty";
  if (name.length > 253) return "it is longer than 253 characters";
  if (name.includes("*")) return "wildcard domains are not supported";
  if (name !== name.toLowerCase()) return "it must be lower case";
  const labels = name.split(".");
  if (labels.length < 2) return "it needs at least two labels, such as example.com";
  for (const label of labels) {
    if (label.length === 0) return "it has an empty label";
    if (label.length > 63) return "a label is longer than 63 characters";
    if (!LABEL.test(label)) return `label ${JSON.stringify(label).slice(0, 70)} may hold only a-z, 0-9 and inner '-'`;
  }
  if (/^\d+$/.test(labels[labels.length - 1]!)) return "IP addresses cannot be custom domains";
  return null;
}

/** The domain, or a bad_request saying why it is not one. */
export function checkDomain(name: unknown): string {
  const problem = typeof name === "string" ? domainProblem(name) : "it is not a string";
  if (problem !== null) {
    const shown = JSON.stringify(String(name)).slice(0, 80);
    throw badRequest(`invalid domain ${shown}: ${problem}`, "give a fully qualified lower-case name such as www.example.com");
  }
  return name as string;
}
