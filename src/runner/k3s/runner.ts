import type { Duplex } from "node:stream";
import type { V1Deployment, V1Pod } from "@kubernetes/client-node";
import * as k8s from "@kubernetes/client-node";
import { BeamstalkError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/logger.ts";
import { checkAppName } from "../../lib/validate.ts";
import { bootScript } from "../boot-script.ts";
import { LABEL, checkSpec } from "../docker/spec.ts";
import { ReplicaBootError, byIdentity, checkSlug, randomSuffix, secretsOf } from "../docker/engine.ts";
import type { ExecOptions, ExecSession, JobOptions, JobResult, JobSpec, LogLine, LogOptions, Replica, ReplicaEvent, ReplicaSpec, ReplicaStats, Runner } from "../types.ts";
import { pollEvents } from "../poll-events.ts";
import { waitForBoot } from "./boot-wait.ts";
import { kubeExec } from "./exec.ts";
import { runPodJob } from "./job.ts";
import { podConnection } from "./port-forward.ts";
import { type Kube, kubeError } from "./kube.ts";
import { followLines, podLog, splitLines } from "./logs.ts";
import { envSecretName, namespaceName, parseReplicaId } from "./names.ts";
import { checkNamespace, ensureAppObjects } from "./namespace.ts";
import { type Snapshot, currentPod, diffEvents, podsByReplica, snapshotOf, toReplica } from "./pods.ts";
import { REPLICA_LABEL, deploymentObject, envSecretObject } from "./workload-objects.ts";

export interface K3sRunnerOptions {
  kube: Kube;
  logger: Logger;
  /** The cluster's pod network(s): the NetworkPolicy admits no pod from outside the app (k3s: 10.42.0.0/16). */
  podCidrs: readonly string[];
  /** Addresses inside the pod network the router's connections come from (see networkPolicyObject). */
  routerCidrs?: readonly string[];
  /** Extra labels on every object (an installation or test id); only objects carrying them are this runner's. */
  labels?: Record<string, string>;
  bootTimeoutMs?: number;
  stopTimeoutSeconds?: number;
  /** How often events() reads the pods. */
  pollMs?: number;
}

/**
 * Runs replicas on Kubernetes: each app in a namespace of its own, each
 * replica a Deployment of one pod (see workload-objects.ts), one-off jobs as
 * bare pods. The kubelet restarts a pod that dies and the Deployment replaces
 * one that is lost with its node; this runner keeps no state of its own and
 * finds everything again by labels.
 */
export class K3sRunner implements Runner {
  /** Pods run on the cluster's nodes: they download their slug. */
  readonly slugDelivery = "url" as const;
  readonly #kube: Kube;
  readonly #logger: Logger;
  readonly #labels: Record<string, string>;
  readonly #podCidrs: readonly string[];
  readonly #routerCidrs: readonly string[];
  readonly #bootTimeoutMs: number;
  readonly #stopTimeoutSeconds: number;
  readonly #pollMs: number;
  /** Apps whose namespace and objects were applied by this process. */
  readonly #ready = new Map<string, Promise<void>>();

  constructor(options: K3sRunnerOptions) {
    this.#kube = options.kube;
    this.#logger = options.logger;
    this.#labels = options.labels ?? {};
    this.#podCidrs = options.podCidrs;
    this.#routerCidrs = options.routerCidrs ?? [];
    this.#bootTimeoutMs = options.bootTimeoutMs ?? 90_000;
    this.#stopTimeoutSeconds = options.stopTimeoutSeconds ?? 30;
    this.#pollMs = options.pollMs ?? 1000;
  }

  /** The app's namespace, service account, libcluster Role, headless Service, NetworkPolicy and boot script. */
  ensureNetwork(app: string): Promise<void> {
    checkAppName(app);
    let ready = this.#ready.get(app);
    if (!ready) {
      ready = ensureAppObjects(this.#kube, this.#logger, app, { podCidrs: this.#podCidrs, routerCidrs: this.#routerCidrs, bootScript, labels: this.#labels });
      this.#ready.set(app, ready);
      ready.catch(() => this.#ready.delete(app));
    }
    return ready;
  }

  async start(spec: ReplicaSpec): Promise<Replica> {
    checkSpec(spec);
    checkSlug(spec.slugPath);
    const suffix = randomSuffix();
    const deployment = deploymentObject(spec, { suffix, labels: this.#labels, stopTimeoutSeconds: this.#stopTimeoutSeconds });
    const secret = envSecretObject(spec.app, deployment.metadata.name, spec.env, spec.slugUrl, this.#labels);
    await this.ensureNetwork(spec.app);
    const namespace = namespaceName(spec.app);
    const name = deployment.metadata.name;
    const what = { app: spec.app, release: spec.release, process: spec.process, index: spec.index, name };
    const secrets = secretsOf(spec);
    this.#logger.info("runner.replica.starting", what);
    const began = performance.now();
    try {
      await this.#kube.apply(secret, secrets);
      await this.#kube.apply(deployment, secrets);
      const boot = await waitForBoot(this.#kube, namespace, `${REPLICA_LABEL}=${name}`, this.#bootTimeoutMs);
      if (!boot.ok) throw new ReplicaBootError(`replica ${spec.process}.${spec.index} of ${spec.app} v${spec.release} failed to boot: ${boot.reason}`, boot.output);
      const replica = await this.#replica(spec.app, name);
      if (!replica) throw new ReplicaBootError(`replica ${spec.process}.${spec.index} of ${spec.app} vanished while booting`, []);
      this.#logger.info("runner.replica.started", { ...what, ip: replica.address.host, ms: Math.round(performance.now() - began) });
      return replica;
    } catch (err) {
      await this.#remove(namespace, name, 0).catch(() => {});
      // The next start applies the app's objects again (someone may have removed them).
      this.#ready.delete(spec.app);
      const failure = err instanceof ReplicaBootError ? err : kubeError(err, `starting ${spec.app} ${spec.process}.${spec.index}`, this.#kube.server, secrets);
      this.#logger.error("runner.replica.failed", { ...what, error: failure.message });
      throw failure;
    }
  }

  /**
   * Nothing to do: a pod's CPU limit is part of its spec, and changing it
   * replaces the pod (in-place resize is not in every Kubernetes), so a
   * replica boots with its size's limit from the start.
   */
  async settle(id: string): Promise<void> {
    await this.#owned(id);
  }

  async stop(id: string, graceSeconds = 30): Promise<void> {
    const ref = parseReplicaId(id);
    if (!ref) throw new BeamstalkError("not_found", `${id} is not a Beamstalk replica`);
    const deployment = await this.#deployment(ref.app, ref.deployment);
    if (!deployment) return;
    if (!this.#owns(deployment.metadata?.labels)) throw new BeamstalkError("forbidden", `deployment ${ref.deployment} is not a Beamstalk replica`);
    const began = performance.now();
    await this.#remove(namespaceName(ref.app), ref.deployment, graceSeconds);
    this.#logger.info("runner.replica.stopped", { app: ref.app, name: ref.deployment, ms: Math.round(performance.now() - began) });
  }

  /**
   * Scales the Deployment to 0 first (so no ReplicaSet makes a pod again while
   * it goes), stops its pods with the grace asked for (SIGTERM, then SIGKILL),
   * removes it and its Secret, and waits until the pods are gone (bounded).
   */
  async #remove(namespace: string, name: string, graceSeconds: number): Promise<void> {
    const kube = this.#kube;
    const labelSelector = `${REPLICA_LABEL}=${name}`;
    await kube.gone(kube.apps.patchNamespacedDeployment({ name, namespace, body: [{ op: "replace", path: "/spec/replicas", value: 0 }] }), `scaling down ${name}`);
    await kube.gone(kube.core.deleteCollectionNamespacedPod({ namespace, labelSelector, gracePeriodSeconds: graceSeconds }), `stopping the pods of ${name}`);
    await kube.gone(kube.apps.deleteNamespacedDeployment({ name, namespace, propagationPolicy: "Background" }), `removing deployment ${name}`);
    await kube.gone(kube.core.deleteNamespacedSecret({ name: envSecretName(name), namespace }), `removing the secret of ${name}`);
    const deadline = Date.now() + (Math.max(graceSeconds, 0) + 15) * 1000;
    while (Date.now() < deadline) {
      const left = await kube.core.listNamespacedPod({ namespace, labelSelector }).catch(() => null);
      if (!left || left.items.length === 0) break;
      await Bun.sleep(200);
    }
  }

  async list(app?: string): Promise<Replica[]> {
    if (app !== undefined) checkAppName(app);
    const { deployments, pods } = await this.#read(app);
    const byReplica = podsByReplica(pods);
    return deployments.map((d) => toReplica(d, byReplica.get(`${d.metadata?.namespace}/${d.metadata?.name}`) ?? [])).sort(byIdentity);
  }

  async removeApp(app: string): Promise<void> {
    checkAppName(app);
    const name = namespaceName(app);
    const existing = await this.#kube.orNull(this.#kube.core.readNamespace({ name }), `reading namespace ${name}`);
    this.#ready.delete(app);
    if (!existing) return;
    // Never removes a namespace Beamstalk did not make (and nothing in it).
    checkNamespace(existing, app, this.#labels);
    const replicas = await this.list(app);
    await Promise.all(replicas.map((r) => this.stop(r.id, 10)));
    await this.#kube.gone(this.#kube.core.deleteNamespace({ name }), `removing namespace ${name}`);
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && (await this.#kube.orNull(this.#kube.core.readNamespace({ name }), `reading namespace ${name}`))) await Bun.sleep(500);
    this.#logger.info("runner.app.removed", { app, replicas: replicas.length });
  }

  events(signal: AbortSignal): AsyncIterable<ReplicaEvent> {
    return pollEvents({ read: () => this.#read().then(({ deployments, pods }) => snapshotOf(deployments, pods)), diff: diffEvents, pollMs: this.#pollMs, logger: this.#logger, signal });
  }


  /** Replaces the replica's pod (the Deployment makes a new one); resolves once it runs again, or with its state after 30 s. */
  async revive(id: string): Promise<Replica> {
    const { app, deployment, pods } = await this.#owned(id);
    const namespace = namespaceName(app);
    for (const pod of pods) await this.#kube.gone(this.#kube.core.deleteNamespacedPod({ name: pod.metadata!.name!, namespace, gracePeriodSeconds: 0 }), `restarting ${deployment}`);
    const deadline = Date.now() + 30_000;
    let replica = await this.#replica(app, deployment);
    while (replica && replica.state !== "running" && Date.now() < deadline) {
      await Bun.sleep(250);
      replica = await this.#replica(app, deployment);
    }
    if (!replica) throw new BeamstalkError("not_found", `replica ${id} is gone`);
    return replica;
  }

  /** From the metrics API (k3s ships metrics-server). */
  async stats(id: string): Promise<ReplicaStats> {
    const { app, deployment, pod } = await this.#running(id);
    const metrics = await new k8s.Metrics(this.#kube.config).getPodMetrics(namespaceName(app)).catch(this.#kube.fail(`reading metrics of ${deployment} (is metrics-server installed?)`));
    const usage = metrics.items.find((m) => m.metadata.name === pod.metadata?.name)?.containers[0]?.usage;
    const limit = pod.spec?.containers[0]?.resources?.limits?.memory;
    return { memoryBytes: bytesOf(usage?.memory), memoryLimitBytes: bytesOf(limit), cpuPercent: Math.round(nanoCoresOf(usage?.cpu) / 1e6) / 10 };
  }

  async *logs(id: string, options: LogOptions = {}): AsyncGenerator<LogLine> {
    const { app, pods } = await this.#owned(id);
    const pod = currentPod(pods);
    if (!pod) return;
    const ref = { namespace: namespaceName(app), name: pod.metadata!.name! };
    if (!options.follow) {
      yield* splitLines(await podLog(this.#kube, ref, options.tail));
      return;
    }
    yield* followLines(this.#kube, ref, { ...(options.tail !== undefined ? { tail: options.tail } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  }

  async exec(id: string, argv: string[], options: ExecOptions): Promise<ExecSession> {
    const { app, deployment, pod } = await this.#running(id);
    return kubeExec(this.#kube.config, { namespace: namespaceName(app), name: pod.metadata!.name! }, argv, options).catch((err) => {
      throw kubeError(err, `running a command in ${deployment}`, this.#kube.server);
    });
  }

  /** Observer tunnels: EPMD and distribution through the API's port-forward, not the pod network. */
  async connect(id: string, port: number): Promise<Duplex> {
    const { app, deployment, pod } = await this.#running(id);
    return podConnection(this.#kube.config, { namespace: namespaceName(app), name: pod.metadata!.name! }, port).catch((err) => {
      throw kubeError(err, `forwarding port ${port} of ${deployment}`, this.#kube.server);
    });
  }

  async runJob(spec: JobSpec, options: JobOptions): Promise<JobResult> {
    await this.ensureNetwork(spec.app);
    return runPodJob(this.#kube, this.#logger, spec, { ...options, labels: this.#labels }).catch((err) => {
      throw kubeError(err, `running a job of ${spec.app}`, this.#kube.server, secretsOf(spec));
    });
  }

  /** Our deployments and their pods (of one app, or all), by label. */
  async #read(app?: string): Promise<{ deployments: V1Deployment[]; pods: V1Pod[] }> {
    const labelSelector = Object.entries({ ...this.#labels, [LABEL.managed]: "true", ...(app ? { [LABEL.app]: app } : {}) })
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    const kube = this.#kube;
    const [deployments, pods] = app
      ? await Promise.all([
          kube.apps.listNamespacedDeployment({ namespace: namespaceName(app), labelSelector }).catch(kube.fail(`listing the deployments of ${app}`)),
          kube.core.listNamespacedPod({ namespace: namespaceName(app), labelSelector: `${labelSelector},${REPLICA_LABEL}` }).catch(kube.fail(`listing the pods of ${app}`)),
        ])
      : await Promise.all([
          kube.apps.listDeploymentForAllNamespaces({ labelSelector }).catch(kube.fail("listing deployments")),
          kube.core.listPodForAllNamespaces({ labelSelector: `${labelSelector},${REPLICA_LABEL}` }).catch(kube.fail("listing pods")),
        ]);
    return { deployments: deployments.items.filter((d) => this.#owns(d.metadata?.labels)), pods: pods.items };
  }

  async #deployment(app: string, name: string): Promise<V1Deployment | null> {
    return this.#kube.orNull(this.#kube.apps.readNamespacedDeployment({ name, namespace: namespaceName(app) }), `reading deployment ${name}`);
  }

  async #replica(app: string, name: string): Promise<Replica | null> {
    const deployment = await this.#deployment(app, name);
    if (!deployment) return null;
    const pods = await this.#kube.core.listNamespacedPod({ namespace: namespaceName(app), labelSelector: `${REPLICA_LABEL}=${name}` }).catch(this.#kube.fail(`listing the pods of ${name}`));
    return toReplica(deployment, pods.items);
  }

  async #owned(id: string): Promise<{ app: string; deployment: string; pods: V1Pod[] }> {
    const ref = parseReplicaId(id);
    const deployment = ref ? await this.#deployment(ref.app, ref.deployment) : null;
    if (!ref || !deployment || !this.#owns(deployment.metadata?.labels)) throw new BeamstalkError(deployment ? "forbidden" : "not_found", `${id} is not a Beamstalk replica`);
    const pods = await this.#kube.core.listNamespacedPod({ namespace: namespaceName(ref.app), labelSelector: `${REPLICA_LABEL}=${ref.deployment}` }).catch(this.#kube.fail(`listing the pods of ${ref.deployment}`));
    return { ...ref, pods: pods.items };
  }

  async #running(id: string): Promise<{ app: string; deployment: string; pod: V1Pod }> {
    const owned = await this.#owned(id);
    const pod = currentPod(owned.pods);
    if (!pod || !pod.status?.containerStatuses?.[0]?.state?.running) throw new BeamstalkError("conflict", `replica ${owned.deployment} is not running`);
    return { ...owned, pod };
  }

  #owns(labels: Record<string, string> | undefined): boolean {
    if (labels?.[LABEL.managed] !== "true") return false;
    return Object.entries(this.#labels).every(([key, value]) => labels[key] === value);
  }
}

/** "1234Ki", "12Mi", "1Gi", "123456" → bytes. */
export function bytesOf(quantity: string | undefined): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G)?$/.exec(quantity ?? "");
  if (!m) return 0;
  const scale: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, k: 1e3, M: 1e6, G: 1e9 };
  return Math.round(Number(m[1]) * (m[2] ? scale[m[2]]! : 1));
}

/** "12345678n", "250m", "1" → nanocores. */
export function nanoCoresOf(quantity: string | undefined): number {
  const m = /^(\d+(?:\.\d+)?)(n|u|m)?$/.exec(quantity ?? "");
  if (!m) return 0;
  const scale: Record<string, number> = { n: 1, u: 1e3, m: 1e6 };
  return Number(m[1]) * (m[2] ? scale[m[2]]! : 1e9);
}
