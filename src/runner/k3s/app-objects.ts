// One model a file: an index would bundle the validators of every kind in its group.
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { badRequest } from "../../lib/errors.ts";
import { LABEL, appLabels } from "../docker/spec.ts";
import { namespaceName, serviceName } from "./names.ts";

/**
 * What one app owns on Kubernetes, besides its replicas, as plain data (DESIGN
 * §5.1): each builder returns the exact object, checked against the Kubernetes
 * schemas (kubernetes-models) before anything is sent. app-objects.test.ts asserts them.
 */

export const BOOT_CONFIG_MAP = "beamstalk-boot";
export const LIBCLUSTER_ROLE = "libcluster";

/** Any Kubernetes object: apiVersion, kind, metadata (namespace, name, labels), the rest. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

interface Validating {
  validate(): void;
}

/** Throws a bad_request naming the object and the schema's complaint. */
export function validated<T extends KubeObject>(object: T, Model: new (data: never) => Validating): T {
  try {
    new Model(object as never).validate();
  } catch (err) {
    throw badRequest(`invalid ${object.kind} ${object.metadata.name}: ${(err as Error).message.split("\n")[0]}`);
  }
  return object;
}

function meta(app: string, name: string, extra: Record<string, string>) {
  return { name, namespace: namespaceName(app), labels: appLabels(app, extra) };
}

export function namespaceObject(app: string, extra: Record<string, string> = {}): KubeObject {
  return validated({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespaceName(app), labels: appLabels(app, extra) } }, Namespace);
}

/** The identity the app's pods run as: libcluster's Kubernetes strategies read the API with its token. */
export function serviceAccountObject(app: string, extra: Record<string, string> = {}): KubeObject {
  return validated({ apiVersion: "v1", kind: "ServiceAccount", metadata: meta(app, app, extra), automountServiceAccountToken: true }, ServiceAccount);
}

/** What Cluster.Strategy.Kubernetes (endpoints or pods, by selector) and Kubernetes.DNS need, in the app's namespace only. */
export function libclusterRoleObject(app: string, extra: Record<string, string> = {}): KubeObject {
  return validated(
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: meta(app, LIBCLUSTER_ROLE, extra),
      rules: [
        { apiGroups: [""], resources: ["endpoints", "pods"], verbs: ["get", "list", "watch"] },
        { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
      ],
    },
    Role,
  );
}

export function libclusterRoleBindingObject(app: string, extra: Record<string, string> = {}): KubeObject {
  return validated(
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: meta(app, LIBCLUSTER_ROLE, extra),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: LIBCLUSTER_ROLE },
      subjects: [{ kind: "ServiceAccount", name: app, namespace: namespaceName(app) }],
    },
    RoleBinding,
  );
}

/**
 * Headless: DNS answers with every ready pod's own address (what clustering
 * dials), never a virtual IP; not-ready pods too, so a booting node is found.
 * Pods name it as their subdomain, which gives each `<host>.<app>`.
 */
export function headlessServiceObject(app: string, extra: Record<string, string> = {}): KubeObject {
  return validated(
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: meta(app, serviceName(app), extra),
      spec: { clusterIP: "None", publishNotReadyAddresses: true, selector: { [LABEL.managed]: "true", [LABEL.app]: app, "beamstalk.kind": "replica" } },
    },
    Service,
  );
}

/**
 * Pods of the app accept connections from each other (any port: EPMD,
 * distribution, HTTP) and from outside the pod network (Beamstalk's router,
 * which dials pod IPs, and observer tunnels from the controller), never from
 * another pod: another app's pods reach neither EPMD (4369) nor distribution
 * (9100), nor the app's HTTP port. Needs a CNI that enforces NetworkPolicy
 * (k3s's embedded controller does). Kubernetes always admits the pod's own
 * node; routerCidrs admit addresses inside the pod network that the router's
 * connections come from (a node's flannel.1 address, when the server runs on
 * another node than the pod, or a router running in a pod).
 */
export function networkPolicyObject(app: string, podCidrs: readonly string[], extra: Record<string, string> = {}, routerCidrs: readonly string[] = []): KubeObject {
  if (podCidrs.length === 0) throw badRequest("the NetworkPolicy needs the cluster's pod CIDR (--k3s-pod-cidr)");
  for (const cidr of [...podCidrs, ...routerCidrs]) if (!/^[0-9a-fA-F.:]+\/\d{1,3}$/.test(cidr)) throw badRequest(`${JSON.stringify(cidr)} is not a CIDR`);
  return validated(
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta(app, "beamstalk-isolation", extra),
      spec: {
        podSelector: {},
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ podSelector: {} }] }, { from: [{ ipBlock: { cidr: "0.0.0.0/0", except: [...podCidrs] } }, ...routerCidrs.map((cidr) => ({ ipBlock: { cidr } }))] }],
      },
    },
    NetworkPolicy,
  );
}

/** boot.sh, mounted read-only and executable at /beamstalk/boot in every pod of the app. */
export function bootConfigMapObject(app: string, script: string, extra: Record<string, string> = {}): KubeObject {
  return validated({ apiVersion: "v1", kind: "ConfigMap", metadata: meta(app, BOOT_CONFIG_MAP, extra), data: { boot: script } }, ConfigMap);
}

/** Everything an app needs before its first replica, in the order it is applied (the namespace first). */
export function appObjects(app: string, o: { podCidrs: readonly string[]; routerCidrs?: readonly string[]; bootScript: string; labels?: Record<string, string> }): KubeObject[] {
  const extra = o.labels ?? {};
  return [
    namespaceObject(app, extra),
    serviceAccountObject(app, extra),
    libclusterRoleObject(app, extra),
    libclusterRoleBindingObject(app, extra),
    headlessServiceObject(app, extra),
    networkPolicyObject(app, o.podCidrs, extra, o.routerCidrs),
    bootConfigMapObject(app, o.bootScript, extra),
  ];
}
