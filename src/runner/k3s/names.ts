import { createHash } from "node:crypto";
import { badRequest } from "../../lib/errors.ts";
import { checkAppName } from "../../lib/validate.ts";
import type { ReplicaSpec } from "../types.ts";

/**
 * Names of what an app owns on Kubernetes. A replica's id is `<app>.<deployment>`
 * (app names hold no dot), so every call that gets an id knows the namespace.
 */

const DNS_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** `beamstalk-<app>`; an app name too long for that is cut and made unique with a hash. */
export function namespaceName(app: string): string {
  checkAppName(app);
  if (app.length <= 53) return `beamstalk-${app}`;
  return `beamstalk-${app.slice(0, 44)}-${createHash("sha256").update(app).digest("hex").slice(0, 8)}`;
}

/** A DNS-1035 label, as Service names, pod host names and subdomains must be. */
export function checkLabelName(name: string, what: string): string {
  if (!DNS_LABEL.test(name)) throw badRequest(`${what} ${JSON.stringify(name).slice(0, 70)} is not a DNS label (a-z, 0-9, '-', up to 63, starting with a letter, not ending with '-')`);
  return name;
}

/** The headless Service: pods get `<host>.<app>` names under it (their subdomain). */
export function serviceName(app: string): string {
  return checkLabelName(app, "app name on Kubernetes");
}

export function processSlug(process: string): string {
  return process.toLowerCase().replaceAll("_", "-");
}

/** The pod's host name, `web-1-k3x9`; with the subdomain it is `web-1-k3x9.<app>`, as on Docker. */
export function podHostname(spec: Pick<ReplicaSpec, "process" | "index">, suffix: string): string {
  return checkLabelName(`${processSlug(spec.process)}-${spec.index}-${suffix}`, "pod host name");
}

export function deploymentName(spec: Pick<ReplicaSpec, "process" | "index" | "release">, suffix: string): string {
  return checkLabelName(`${processSlug(spec.process)}-${spec.index}-v${spec.release}-${suffix}`, "deployment name");
}

/** The Secret holding a replica's (or job's) secret environment. */
export function envSecretName(workload: string): string {
  return `${workload}-env`;
}

export function replicaId(app: string, deployment: string): string {
  return `${app}.${deployment}`;
}

/** The app and deployment an id names, or null for an id that is not one of ours. */
export function parseReplicaId(id: string): { app: string; deployment: string } | null {
  const dot = id.indexOf(".");
  if (dot < 0) return null;
  const app = id.slice(0, dot);
  const deployment = id.slice(dot + 1);
  if (!/^[a-z][a-z0-9-]{1,62}$/.test(app) || !DNS_LABEL.test(deployment)) return null;
  return { app, deployment };
}
