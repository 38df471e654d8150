import type { V1Deployment, V1Pod } from "@kubernetes/client-node";
import { LABEL } from "../docker/spec.ts";
import type { Replica, ReplicaEvent } from "../types.ts";
import { REPLICA_LABEL } from "./workload-objects.ts";
import { replicaId } from "./names.ts";

/**
 * What the API says of a replica's Deployment and its pods, read into a
 * Replica. A replica is its Deployment (the id stays when the pod is
 * replaced); its address, state and restarts are those of its current pod.
 */

/** The pod that stands for the replica now: the newest one not being deleted, else the newest. */
export function currentPod(pods: readonly V1Pod[]): V1Pod | undefined {
  const created = (p: V1Pod) => String(p.metadata?.creationTimestamp instanceof Date ? p.metadata.creationTimestamp.toISOString() : (p.metadata?.creationTimestamp ?? ""));
  const newest = [...pods].sort((a, b) => created(b).localeCompare(created(a)));
  return newest.find((p) => !p.metadata?.deletionTimestamp) ?? newest[0];
}

export function podState(pod: V1Pod | undefined): Replica["state"] {
  if (!pod) return "starting";
  if (pod.metadata?.deletionTimestamp) return "exited";
  const status = pod.status?.containerStatuses?.[0];
  const phase = pod.status?.phase;
  if (phase === "Succeeded" || phase === "Failed") return "exited";
  if (status?.state?.running && pod.status?.podIP) return "running";
  if (status?.state?.waiting?.reason === "CrashLoopBackOff" || (status?.state?.terminated && pod.spec?.restartPolicy !== "Never")) return "restarting";
  if (phase === "Pending" || phase === "Running") return "starting";
  return "unknown";
}

function started(pod: V1Pod | undefined): string | null {
  const at = pod?.status?.containerStatuses?.[0]?.state?.running?.startedAt;
  if (!at) return null;
  return at instanceof Date ? at.toISOString() : String(at);
}

/** "1Gi", "256Mi", "1073741824" → GiB. */
export function gibOf(quantity: string | undefined): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti)?$/.exec(quantity ?? "");
  if (!m) return 0;
  const scale = { Ki: 1 / 1024 ** 2, Mi: 1 / 1024, Gi: 1, Ti: 1024 }[m[2] as "Ki"] ?? 1 / 1024 ** 3;
  return Number(m[1]) * scale;
}

export function toReplica(deployment: V1Deployment, pods: readonly V1Pod[]): Replica {
  const labels = deployment.metadata?.labels ?? {};
  const app = labels[LABEL.app] ?? "";
  const name = deployment.metadata?.name ?? "";
  const pod = currentPod(pods);
  const state = podState(pod);
  const memory = deployment.spec?.template.spec?.containers[0]?.resources?.limits?.memory;
  return {
    id: replicaId(app, name),
    name,
    hostname: deployment.metadata?.annotations?.[LABEL.host] ?? "",
    app,
    release: Number(labels[LABEL.release]),
    process: labels[LABEL.process] ?? "",
    index: Number(labels[LABEL.index]),
    address: { host: state === "running" ? (pod?.status?.podIP ?? "") : "", port: Number(labels[LABEL.port]) },
    state,
    startedAt: state === "running" ? started(pod) : null,
    restarts: pods.reduce((n, p) => n + (p.status?.containerStatuses?.[0]?.restartCount ?? 0), 0) + Math.max(0, pods.length - 1),
    size: Math.round(gibOf(memory) * 10) / 10,
    ...(pod?.spec?.nodeName ? { node: pod.spec.nodeName } : {}),
  };
}

/** The pods of each deployment, by the replica label. */
export function podsByReplica(pods: readonly V1Pod[]): Map<string, V1Pod[]> {
  const out = new Map<string, V1Pod[]>();
  for (const pod of pods) {
    const key = `${pod.metadata?.namespace}/${pod.metadata?.labels?.[REPLICA_LABEL]}`;
    out.set(key, [...(out.get(key) ?? []), pod]);
  }
  return out;
}

/** Per replica id: its app, HTTP port, and the running pod's uid and address (none: not running). */
export type Snapshot = Map<string, { app: string; port: number; pod: { uid: string; ip: string } | null }>;

export function snapshotOf(deployments: readonly V1Deployment[], pods: readonly V1Pod[]): Snapshot {
  const byReplica = podsByReplica(pods);
  const snapshot: Snapshot = new Map();
  for (const d of deployments) {
    const mine = byReplica.get(`${d.metadata?.namespace}/${d.metadata?.name}`) ?? [];
    const replica = toReplica(d, mine);
    const pod = currentPod(mine);
    snapshot.set(replica.id, { app: replica.app, port: replica.address.port, pod: replica.state === "running" && pod ? { uid: pod.metadata?.uid ?? "", ip: replica.address.host } : null });
  }
  return snapshot;
}

/** The same events the Docker and Swarm runners give: a replaced pod is a death (with its address) and a start. */
export function diffEvents(before: Snapshot, now: Snapshot): ReplicaEvent[] {
  const events: ReplicaEvent[] = [];
  for (const [id, { app, port, pod }] of now) {
    const was = before.get(id)?.pod ?? null;
    if (was && (!pod || pod.uid !== was.uid)) events.push({ id, app, action: "die", address: { host: was.ip, port } });
    if (pod && (!was || was.uid !== pod.uid)) events.push({ id, app, action: "start" });
  }
  for (const [id, { app, port, pod }] of before) {
    if (now.has(id)) continue;
    if (pod) events.push({ id, app, action: "die", address: { host: pod.ip, port } });
    events.push({ id, app, action: "destroy" });
  }
  return events;
}
