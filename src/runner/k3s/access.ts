import { BeamstalkError } from "../../lib/errors.ts";
import type { Kube } from "./kube.ts";

/**
 * The rights Beamstalk's kubeconfig needs, cluster-wide (each app gets a
 * namespace of its own), asked of the API server itself with
 * SelfSubjectAccessReview before anything is created: a kubeconfig lacking
 * some is refused at boot with the list of what is missing.
 */

export interface Right {
  verb: string;
  /** "" for the core group. */
  group: string;
  resource: string;
  subresource?: string;
}

const WRITE = ["get", "create", "patch", "delete"];
const rights = (group: string, resource: string, verbs: string[], subresource?: string): Right[] =>
  verbs.map((verb) => ({ verb, group, resource, ...(subresource ? { subresource } : {}) }));

export const NEEDED_RIGHTS: readonly Right[] = [
  ...rights("", "namespaces", WRITE),
  ...rights("", "serviceaccounts", WRITE),
  ...rights("", "configmaps", WRITE),
  ...rights("", "secrets", [...WRITE, "deletecollection"]),
  ...rights("", "services", WRITE),
  ...rights("", "pods", ["get", "list", "watch", "create", "delete", "deletecollection"]),
  ...rights("", "pods", ["get"], "log"),
  ...rights("", "pods", ["create"], "exec"),
  ...rights("", "pods", ["create"], "portforward"),
  // A Role may grant only what its maker holds: libcluster's rights.
  ...rights("", "endpoints", ["get", "list", "watch"]),
  ...rights("discovery.k8s.io", "endpointslices", ["get", "list", "watch"]),
  ...rights("apps", "deployments", [...WRITE, "list"]),
  ...rights("networking.k8s.io", "networkpolicies", WRITE),
  ...rights("rbac.authorization.k8s.io", "roles", WRITE),
  ...rights("rbac.authorization.k8s.io", "rolebindings", WRITE),
];

/** `create pods/exec`, `list apps/deployments`: as kubectl auth can-i says them. */
export function describeRight(r: Right): string {
  const resource = `${r.group ? `${r.group}/` : ""}${r.resource}${r.subresource ? `/${r.subresource}` : ""}`;
  return `${r.verb} ${resource}`;
}

/** The SelfSubjectAccessReview body for one right, in every namespace. */
export function accessReview(r: Right): object {
  return {
    apiVersion: "authorization.k8s.io/v1",
    kind: "SelfSubjectAccessReview",
    spec: { resourceAttributes: { verb: r.verb, group: r.group, resource: r.resource, ...(r.subresource ? { subresource: r.subresource } : {}) } },
  };
}

/** The rights of `needed` the kubeconfig's user lacks (an unreachable server throws). */
export async function missingRights(kube: Kube, needed: readonly Right[] = NEEDED_RIGHTS): Promise<Right[]> {
  // Every review is answered (or fails) before this returns: no request is left in flight.
  const answers = await Promise.allSettled(
    needed.map(async (r) => {
      const review = await kube.authz.createSelfSubjectAccessReview({ body: accessReview(r) as never }).catch(kube.fail(`checking the right to ${describeRight(r)}`));
      return review.status?.allowed === true ? null : r;
    }),
  );
  const failed = answers.find((a) => a.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return answers.map((a) => (a as PromiseFulfilledResult<Right | null>).value).filter((r): r is Right => r !== null);
}

/** Refuses a kubeconfig that lacks any right Beamstalk needs, naming each. */
export async function checkRights(kube: Kube): Promise<void> {
  const missing = await missingRights(kube);
  if (missing.length === 0) return;
  throw new BeamstalkError(
    "forbidden",
    `the kubeconfig's user on ${kube.server} lacks ${missing.length} right${missing.length === 1 ? "" : "s"} Beamstalk needs (cluster-wide): ${missing.map(describeRight).join(", ")}`,
    'bind it to a ClusterRole granting them (README, "Beamstalk on k3s"); `kubectl auth can-i --list` shows what it has',
  );
}
