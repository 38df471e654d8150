import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Pod } from "kubernetes-models/v1/Pod";
import { Secret as SecretModel } from "kubernetes-models/v1/Secret";
import { badRequest } from "../../lib/errors.ts";
import { Secret } from "../../lib/secret.ts";
import { CONFIG_KEY } from "../../lib/validate.ts";
import { BOOT_MOUNT, LABEL, appLabels, checkSpec, cpusFor, replicaEnv, replicaLabels } from "../docker/spec.ts";
import { DIST_PORT, EPMD_PORT } from "../ports.ts";
import type { JobSpec, ReplicaSpec, SlugUrl } from "../types.ts";
import { BOOT_CONFIG_MAP, type KubeObject, validated } from "./app-objects.ts";
import { deploymentName, envSecretName, namespaceName, podHostname, serviceName } from "./names.ts";

/**
 * A replica is a Deployment of one pod (and a Secret for its secret
 * environment); a one-off job is a bare pod that never restarts. Secret values
 * (config vars that are Secrets, the slug token) go into the Secret's
 * stringData, revealed here and nowhere else; the pod spec only names them.
 */

export const CONTAINER = "app";
/** The label every pod of one replica carries: the Deployment's selector. */
export const REPLICA_LABEL = "beamstalk.replica";
export const JOB_LABEL = "beamstalk.job";
/** "replica" or "job": the headless Service and libcluster select replicas only. */
export const KIND_LABEL = "beamstalk.kind";
const SUFFIX = /^[a-z0-9]{4,12}$/;
const GIB_MI = 1024;

type EnvVar = { name: string; value: string } | { name: string; valueFrom: object };

export interface WorkloadOptions {
  suffix: string;
  labels?: Record<string, string>;
  stopTimeoutSeconds?: number;
}

/** 1 size = 1 GiB and 200m CPU, requested and limited alike (Guaranteed QoS: the pod is the last one evicted). */
export function resourcesFor(size: number): { requests: Record<string, string>; limits: Record<string, string> } {
  const amounts = { cpu: `${Math.round(cpusFor(size) * 1000)}m`, memory: `${Math.round(size * GIB_MI)}Mi` };
  return { requests: { ...amounts }, limits: { ...amounts } };
}

/**
 * The Secret for a workload's environment from the release (config vars, the
 * cookie, SECRET_KEY_BASE) and the slug token. All of it: a config var is
 * encrypted at rest by Beamstalk, and a pod spec is readable by anyone who may
 * list deployments, a Secret only by those who may read secrets.
 */
export function envSecretObject(app: string, workload: string, env: Record<string, string | Secret>, slugUrl: SlugUrl | undefined, extra: Record<string, string> = {}): KubeObject {
  const data: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) data[key] = value instanceof Secret ? value.reveal() : value;
  if (slugUrl) data.BEAMSTALK_SLUG_TOKEN = slugUrl.token.reveal();
  return validated(
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: envSecretName(workload), namespace: namespaceName(app), labels: appLabels(app, extra) },
      type: "Opaque",
      stringData: data,
    },
    SecretModel,
  );
}

/**
 * Env as the pod spec carries it: the runner's own values (which override the
 * release's, as on Docker) inline, the release's by reference to the workload's Secret.
 */
function envVars(workload: string, env: Record<string, string | Secret>, plain: Record<string, string>, slugUrl: SlugUrl | undefined): EnvVar[] {
  const vars = new Map<string, EnvVar>();
  const fromSecret = (name: string): EnvVar => ({ name, valueFrom: { secretKeyRef: { name: envSecretName(workload), key: name } } });
  // Distribution by name is the default; an app without distribution may say RELEASE_DISTRIBUTION=none.
  vars.set("RELEASE_DISTRIBUTION", { name: "RELEASE_DISTRIBUTION", value: "name" });
  for (const name of Object.keys(env)) vars.set(name, fromSecret(name));
  for (const [name, value] of Object.entries(plain)) vars.set(name, { name, value });
  // The boot script names the node after this address (RELEASE_NODE=<app>@<pod IP>).
  vars.set("MY_POD_IP", { name: "MY_POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } });
  if (slugUrl) {
    vars.set("BEAMSTALK_SLUG_URL", { name: "BEAMSTALK_SLUG_URL", value: slugUrl.url });
    vars.set("BEAMSTALK_SLUG_TOKEN", fromSecret("BEAMSTALK_SLUG_TOKEN"));
  }
  return [...vars.values()];
}

/** The name every replica of the app answers to: the headless Service's (Kubernetes has no `<app>.internal`). */
export function internalServiceName(app: string): string {
  return `${serviceName(app)}.${namespaceName(app)}.svc.cluster.local`;
}

/** What libcluster's Kubernetes strategies and dns_cluster read, as Gigalixir sets them: pods by label, nodes `<app>@<pod IP>`. */
export function clusterEnv(app: string): Record<string, string> {
  return {
    DNS_CLUSTER_QUERY: internalServiceName(app),
    LIBCLUSTER_DNS_POLL_QUERY: internalServiceName(app),
    LIBCLUSTER_KUBERNETES_SELECTOR: `${LABEL.app}=${app},${KIND_LABEL}=replica`,
    LIBCLUSTER_KUBERNETES_NODE_BASENAME: app,
    LIBCLUSTER_KUBERNETES_SERVICE_NAME: serviceName(app),
    LIBCLUSTER_KUBERNETES_NAMESPACE: namespaceName(app),
  };
}

function bootVolume() {
  return { name: "beamstalk-boot", configMap: { name: BOOT_CONFIG_MAP, defaultMode: 0o555, items: [{ key: "boot", path: "boot" }] } };
}

function container(o: { image: string; args: string[]; env: EnvVar[]; size: number; ports: { name: string; containerPort: number }[] }) {
  return {
    name: CONTAINER,
    image: o.image,
    imagePullPolicy: "IfNotPresent",
    command: ["/bin/bash", BOOT_MOUNT],
    args: o.args,
    env: o.env,
    ports: o.ports.map((p) => ({ ...p, protocol: "TCP" })),
    resources: resourcesFor(o.size),
    volumeMounts: [{ name: "beamstalk-boot", mountPath: "/beamstalk", readOnly: true }],
    // The boot script starts as root (it unpacks the slug), then drops to the app user.
    securityContext: { allowPrivilegeEscalation: false },
  };
}

/** The exact Deployment for one replica: one pod, replaced (never surged) when it is restarted. */
export function deploymentObject(spec: ReplicaSpec, options: WorkloadOptions): KubeObject {
  checkSpec(spec);
  if (!SUFFIX.test(options.suffix)) throw new Error(`deploymentObject: bad suffix ${options.suffix}`);
  if (!spec.slugUrl) throw badRequest("a replica on Kubernetes needs a slug URL (pods fetch their slug from the controller)");
  const name = deploymentName(spec, options.suffix);
  const hostname = podHostname(spec, options.suffix);
  const host = `${hostname}.${spec.app}`;
  const labels = {
    ...replicaLabels(spec, options.labels),
    [REPLICA_LABEL]: name,
    [KIND_LABEL]: "replica",
  };
  const env = envVars(name, spec.env, { ...replicaEnv(spec, host), ...clusterEnv(spec.app) }, spec.slugUrl);
  return validated(
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace: namespaceName(spec.app), labels, annotations: { [LABEL.host]: host } },
      spec: {
        replicas: 1,
        strategy: { type: "Recreate" },
        selector: { matchLabels: { [REPLICA_LABEL]: name } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: spec.app,
            hostname,
            subdomain: serviceName(spec.app),
            enableServiceLinks: false,
            restartPolicy: "Always",
            terminationGracePeriodSeconds: options.stopTimeoutSeconds ?? 30,
            containers: [
              container({
                image: spec.image,
                args: [],
                env,
                size: spec.size,
                ports: [
                  { name: "http", containerPort: spec.port },
                  { name: "epmd", containerPort: EPMD_PORT },
                  { name: "dist", containerPort: DIST_PORT },
                ],
              }),
            ],
            volumes: [bootVolume()],
          },
        },
      },
    },
    Deployment,
  );
}

export function jobName(spec: Pick<JobSpec, "release">, suffix: string): string {
  return `run-v${spec.release}-${suffix}`;
}

/** A one-off job: a bare pod that runs argv (boot --exec, never a shell) once and is removed by the runner. */
export function jobPodObject(spec: JobSpec, options: WorkloadOptions & { activeDeadlineSeconds?: number }): KubeObject {
  if (spec.argv.length === 0 || spec.argv.some((a) => typeof a !== "string" || a.includes("\0"))) throw badRequest("a job needs an argv of strings without NUL");
  if (!(spec.size > 0 && spec.size <= 64)) throw badRequest(`invalid size ${spec.size}`);
  if (!spec.slugUrl) throw badRequest("a job on Kubernetes needs a slug URL");
  if (!SUFFIX.test(options.suffix)) throw new Error(`jobPodObject: bad suffix ${options.suffix}`);
  const name = jobName(spec, options.suffix);
  const labels = { ...appLabels(spec.app, options.labels), [LABEL.release]: String(spec.release), [KIND_LABEL]: "job", [JOB_LABEL]: name };
  for (const key of Object.keys(spec.env)) if (!CONFIG_KEY.test(key)) throw badRequest(`invalid env name ${JSON.stringify(key).slice(0, 40)}`);
  const env = envVars(name, spec.env, { BEAMSTALK_APP: spec.app, BEAMSTALK_RELEASE: String(spec.release), ...clusterEnv(spec.app) }, spec.slugUrl);
  return validated(
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: namespaceName(spec.app), labels },
      spec: {
        serviceAccountName: spec.app,
        enableServiceLinks: false,
        restartPolicy: "Never",
        terminationGracePeriodSeconds: 10,
        ...(options.activeDeadlineSeconds ? { activeDeadlineSeconds: options.activeDeadlineSeconds } : {}),
        containers: [container({ image: spec.image, args: ["--exec", ...spec.argv], env, size: spec.size, ports: [] })],
        volumes: [bootVolume()],
      },
    },
    Pod,
  );
}
