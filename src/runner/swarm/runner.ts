import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import Docker from "dockerode";
import { BeamstalkError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/logger.ts";
import { checkAppName } from "../../lib/validate.ts";
import { bootScript } from "../boot-script.ts";
import { DockerRunner } from "../docker/runner.ts";
import { dockerExec } from "../docker/exec.ts";
import { followLines, logLines } from "../docker/log-lines.ts";
import { serviceLogs, waitForBoot } from "./boot-wait.ts";
import { relaxPlacement, siblingsPlacement } from "./placement.ts";
import { LABEL, checkSpec, networkName } from "../docker/spec.ts";
import { ReplicaBootError, byIdentity, checkSlug, engineError, randomSuffix, redactError, secretsOf, statsOf, statusOf } from "../docker/engine.ts";
import type { ExecOptions, ExecSession, JobOptions, JobResult, JobSpec, LogLine, LogOptions, Replica, ReplicaEvent, ReplicaSpec, ReplicaStats, Runner } from "../types.ts";
import { pollEvents } from "../poll-events.ts";
import { diffEvents, type Snapshot } from "./events.ts";
import { Gateway } from "./gateway.ts";
import { ensureOverlay } from "./overlay.ts";
import { serviceSpec } from "./spec.ts";
import { type SwarmTask, containerOf, currentTask, toReplica } from "./tasks.ts";

/** Reaches the Docker engine of the host a task runs on (the manager cannot exec or update there). */
export interface NodeEngines {
  forNode(nodeId: string): Promise<Docker>;
}

export interface SwarmRunnerOptions {
  /** The manager's engine (the controller host's own). */
  docker: Docker;
  logger: Logger;
  /** Engines of the other hosts, by Swarm node id; the controller's own node is the manager's engine. */
  nodes?: NodeEngines;
  /** Directory for the boot script that one-off jobs (run on the controller host) mount. */
  bootDir: string;
  /** The image the gateway container runs (the run image; resolves once it exists). */
  gatewayImage: () => Promise<string>;
  labels?: Record<string, string>;
  bootTimeoutMs?: number;
  stopTimeoutSeconds?: number;
  bootCpus?: number;
  /** How often events() reads the tasks. */
  pollMs?: number;
}

/**
 * Runs replicas as Docker Swarm services across hosts (one service, one task
 * per replica: see spec.ts). Swarm places, restarts and moves tasks; this
 * runner keeps no state of its own and finds everything again by labels.
 * One-off jobs run on the controller host, attached to the app's overlay.
 */
export class SwarmRunner implements Runner {
  /** Replicas on other hosts cannot see the controller's files: they download their slug. */
  readonly slugDelivery = "url" as const;
  readonly #docker: Docker;
  readonly #logger: Logger;
  readonly #labels: Record<string, string>;
  readonly #nodes: NodeEngines | undefined;
  readonly #gateway: Gateway;
  readonly #local: DockerRunner;
  readonly #bootTimeoutMs: number;
  readonly #stopTimeoutSeconds: number;
  readonly #bootCpus: number | undefined;
  readonly #pollMs: number;
  #localNodeId: Promise<string> | null = null;
  /** Per app, process and release: the placement of the sibling started last (see start). */
  readonly #placing = new Map<string, Promise<void>>();
  #bootConfig: Promise<{ id: string; name: string }> | null = null;

  constructor(options: SwarmRunnerOptions) {
    this.#docker = options.docker;
    this.#logger = options.logger;
    this.#labels = options.labels ?? {};
    this.#nodes = options.nodes;
    this.#bootTimeoutMs = options.bootTimeoutMs ?? 90_000;
    this.#stopTimeoutSeconds = options.stopTimeoutSeconds ?? 30;
    this.#bootCpus = options.bootCpus;
    this.#pollMs = options.pollMs ?? 1000;
    this.#gateway = new Gateway({ docker: this.#docker, logger: this.#logger, image: options.gatewayImage, labels: this.#labels });
    this.#local = new DockerRunner({ bootDir: options.bootDir, logger: options.logger, docker: options.docker, labels: this.#labels });
  }

  /** Routes the controller host into a Swarm network of its own (the agents'). */
  routeNetwork(name: string): Promise<void> {
    return this.#gateway.attach(name);
  }

  async ensureNetwork(app: string): Promise<void> {
    await this.#gateway.attach(await ensureOverlay(this.#docker, this.#logger, app, this.#labels));
  }

  async start(spec: ReplicaSpec): Promise<Replica> {
    checkSpec(spec);
    // The controller holds the slug the replica will fetch: a broken one fails here, before any service exists.
    checkSlug(spec.slugPath);
    if (!spec.slugUrl) throw new BeamstalkError("internal", "a replica on Swarm needs a slug URL (replicas on other hosts fetch their slug from the controller)");
    await this.ensureNetwork(spec.app);
    // Siblings started side by side (a rollout) are placed one after another, each seeing where the last one went.
    const key = placementKey(spec);
    const placed = this.#placing.get(key) ?? Promise.resolve();
    let done = () => {};
    const chain = placed.then(() => new Promise<void>((resolve) => (done = resolve)));
    this.#placing.set(key, chain);
    await placed;
    let id = "";
    try {
      id = await this.#create(spec, spec.slugUrl);
      await this.#assigned(id);
    } finally {
      done();
      if (this.#placing.get(key) === chain) this.#placing.delete(key);
    }
    const what = { app: spec.app, release: spec.release, process: spec.process, index: spec.index };
    const began = performance.now();
    try {
      const boot = await waitForBoot(this.#docker, id, this.#bootTimeoutMs, (service) => this.#tasks(service));
      if (!boot.ok) throw new ReplicaBootError(`replica ${spec.process}.${spec.index} of ${spec.app} v${spec.release} failed to boot: ${boot.reason}`, boot.output);
      const replica = await this.#reported(id);
      if (!replica) throw new ReplicaBootError(`replica ${spec.process}.${spec.index} of ${spec.app} vanished while booting`, []);
      this.#logger.info("runner.replica.started", { ...what, id: id.slice(0, 12), ip: replica.address.host, ms: Math.round(performance.now() - began) });
      return replica;
    } catch (err) {
      await this.#docker.getService(id).remove().catch(() => {});
      const failure = err instanceof ReplicaBootError ? err : redactError(engineError(err, `starting ${spec.app} ${spec.process}.${spec.index}`), secretsOf(spec));
      this.#logger.error("runner.replica.failed", { ...what, error: failure.message });
      throw failure;
    }
  }

  /** Creates the replica's service, kept off its siblings' hosts; returns its id. */
  async #create(spec: ReplicaSpec, slug: NonNullable<ReplicaSpec["slugUrl"]>): Promise<string> {
    const avoid = await siblingsPlacement(this.#docker, spec, await this.list(spec.app));
    const body = serviceSpec(spec, {
      ...(avoid.length ? { avoidNodes: avoid } : {}),
      suffix: randomSuffix(),
      bootConfig: await this.#ensureBootConfig(),
      slug,
      labels: this.#labels,
      stopTimeoutSeconds: this.#stopTimeoutSeconds,
      ...(this.#bootCpus ? { bootCpus: this.#bootCpus } : {}),
    });
    const what = { app: spec.app, release: spec.release, process: spec.process, index: spec.index, name: body.Name };
    this.#logger.info("runner.replica.starting", what);
    const created = await this.#docker.createService(body).catch((err) => {
      const failure = redactError(engineError(err, `creating service ${body.Name}`), secretsOf(spec));
      this.#logger.error("runner.replica.failed", { ...what, error: failure.message });
      throw failure;
    });
    return (created as unknown as { id?: string; ID?: string }).id ?? (created as unknown as { ID: string }).ID;
  }

  /**
   * The replica once the manager has the task's state: the boot line can come
   * through the service's logs before the host reports the task running, and a
   * replica still "starting" has no address yet (bounded: 10 s).
   */
  async #reported(id: string): Promise<Replica | null> {
    const deadline = Date.now() + 10_000;
    let replica = await this.#replica(id);
    while (replica?.state === "starting" && Date.now() < deadline) {
      await Bun.sleep(50);
      replica = await this.#replica(id);
    }
    return replica;
  }

  /** Until Swarm has picked the task's host (bounded: a task no host can take stays pending). */
  async #assigned(id: string): Promise<void> {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !currentTask(await this.#tasks(id))?.NodeID) await Bun.sleep(50);
  }

  async settle(id: string): Promise<void> {
    const { service, task } = await this.#owned(id);
    const containerId = containerOf(task);
    if (!containerId || !task?.NodeID) return;
    const nanoCpus = Math.round(Number(service.Spec?.Labels?.[LABEL.cpus]) * 1e9);
    if (!(nanoCpus > 0)) return;
    const container = (await this.#engineFor(task.NodeID)).getContainer(containerId);
    const info = await container.inspect().catch(() => null);
    if (!info || info.HostConfig.NanoCpus === nanoCpus) return;
    await container.update({ NanoCpus: nanoCpus }).catch((err) => {
      throw engineError(err, `limiting ${service.Spec?.Name}`);
    });
  }

  async stop(id: string, graceSeconds = 30): Promise<void> {
    const service = await this.#service(id);
    if (!service) return;
    if (!this.#owns(service.Spec?.Labels)) throw new BeamstalkError("forbidden", `service ${id} is not a Beamstalk replica`);
    const began = performance.now();
    await this.#docker.getService(id).remove().catch((err) => {
      if (statusOf(err) !== 404) throw engineError(err, `removing ${service.Spec?.Name}`);
    });
    // Swarm stops the task with the service's grace; wait until its container is gone.
    const deadline = Date.now() + (Math.max(graceSeconds, this.#stopTimeoutSeconds) + 15) * 1000;
    while (Date.now() < deadline && (await this.#tasks(id)).some((t) => t.Status.State === "running")) await Bun.sleep(200);
    this.#logger.info("runner.replica.stopped", { app: service.Spec?.Labels?.[LABEL.app], name: service.Spec?.Name, ms: Math.round(performance.now() - began) });
  }

  async list(app?: string): Promise<Replica[]> {
    if (app !== undefined) checkAppName(app);
    const services = await this.#services(app);
    const tasks = await this.#tasksOf(services);
    return services.map((s) => toReplica(s, tasks.filter((t) => t.ServiceID === s.ID))).sort(byIdentity);
  }

  async removeApp(app: string): Promise<void> {
    checkAppName(app);
    const replicas = await this.list(app);
    await Promise.all(replicas.map((r) => this.stop(r.id, 10)));
    await this.#local.removeJobsOf(app);
    await this.#containersGone(app);
    const name = networkName(app);
    await this.#gateway.detach(name).catch((err) => this.#logger.warn("runner.gateway.detach_failed", { app, error: (err as Error).message }));
    // An overlay can be removed once the last task on it is gone everywhere, which Swarm reports a moment later.
    for (let i = 0; i < 40; i++) {
      const err = await this.#docker.getNetwork(name).remove().then(() => null, (e) => e);
      const gone = !(await this.#docker.listNetworks({ filters: { name: [name] } })).some((n) => n.Name === name);
      if (gone) break;
      if (i === 39 && err) throw engineError(err, `removing network ${name}`);
      await Bun.sleep(500);
    }
    this.#logger.info("runner.app.removed", { app, replicas: replicas.length });
  }

  events(signal: AbortSignal): AsyncIterable<ReplicaEvent> {
    return pollEvents({ read: () => this.#snapshot(), diff: diffEvents, pollMs: this.#pollMs, logger: this.#logger, signal });
  }


  async revive(id: string): Promise<Replica> {
    const { service } = await this.#owned(id);
    const version = service.Version?.Index;
    const spec = { ...service.Spec, TaskTemplate: { ...service.Spec?.TaskTemplate, ForceUpdate: ((service.Spec?.TaskTemplate as { ForceUpdate?: number })?.ForceUpdate ?? 0) + 1 } };
    await this.#docker.getService(id).update({ ...spec, version } as never).catch((err) => {
      throw engineError(err, `restarting ${service.Spec?.Name}`);
    });
    return (await this.#replica(id))!;
  }

  async stats(id: string): Promise<ReplicaStats> {
    const container = await this.#container(id);
    const s = (await container.stats({ stream: false }).catch((err) => {
      throw engineError(err, `reading stats of ${id}`);
    })) as unknown as Docker.ContainerStats;
    return statsOf(s);
  }

  async *logs(id: string, options: LogOptions = {}): AsyncGenerator<LogLine> {
    await this.#owned(id);
    const base = { stdout: true, stderr: true, ...(options.tail !== undefined ? { tail: options.tail } : {}) };
    const stream = await serviceLogs(this.#docker, id, { ...base, follow: options.follow ?? false });
    if (!options.follow || !(stream as Readable).on) {
      yield* logLines([stream as Buffer]);
      return;
    }
    yield* followLines(stream as Readable, options.signal);
  }

  async exec(id: string, argv: string[], options: ExecOptions): Promise<ExecSession> {
    const { service, task } = await this.#owned(id);
    const containerId = containerOf(task);
    if (!task || task.Status.State !== "running" || !containerId || !task.NodeID) {
      throw new BeamstalkError("conflict", `replica ${service.Spec?.Name} is not running`);
    }
    const docker = await this.#engineFor(task.NodeID);
    return dockerExec(docker, docker.getContainer(containerId), argv, options).catch((err) => {
      throw engineError(err, `running a command in ${service.Spec?.Name}`);
    });
  }

  /** Jobs run on the controller host's engine, on the app's (attachable) overlay. */
  async runJob(spec: JobSpec, options: JobOptions): Promise<JobResult> {
    await this.ensureNetwork(spec.app);
    return this.#local.runJob(spec, options);
  }

  /** Swarm removes a removed service's containers on each host a moment later: wait for that (bounded). */
  async #containersGone(app: string): Promise<void> {
    const all = (await this.#docker.listNodes().catch(() => [])) as { ID: string; Status?: { State?: string } }[];
    const nodes = all.filter((n) => n.Status?.State === "ready").map((n) => n.ID);
    const deadline = Date.now() + 20_000;
    for (const node of nodes) {
      const engine = await this.#engineFor(node).catch(() => null);
      while (engine && Date.now() < deadline) {
        const left = await engine.listContainers({ all: true, filters: { label: [`${LABEL.app}=${app}`, `${LABEL.managed}=true`] } }).catch(() => []);
        if (left.length === 0) break;
        await Bun.sleep(250);
      }
    }
  }

  async #ensureBootConfig(): Promise<{ id: string; name: string }> {
    this.#bootConfig ??= (async () => {
      const name = `beamstalk-boot-${createHash("sha256").update(bootScript).digest("hex").slice(0, 12)}`;
      const found = (await this.#docker.listConfigs({ filters: { name: [name] } })) as { ID: string; Spec?: { Name?: string } }[];
      const existing = found.find((c) => c.Spec?.Name === name);
      if (existing) return { id: existing.ID, name };
      const created = (await this.#docker.createConfig({ Name: name, Labels: { ...this.#labels, [LABEL.managed]: "true" }, Data: Buffer.from(bootScript).toString("base64") } as never)) as unknown as { id: string };
      return { id: created.id, name };
    })().catch((err) => {
      this.#bootConfig = null;
      throw engineError(err, "creating the boot script config");
    });
    return this.#bootConfig;
  }

  async #service(id: string): Promise<Docker.Service | null> {
    return (await this.#docker.getService(id).inspect().catch((err) => (statusOf(err) === 404 ? null : Promise.reject(engineError(err, `inspecting ${id}`))))) as Docker.Service | null;
  }

  async #owned(id: string): Promise<{ service: Docker.Service; task: SwarmTask | undefined }> {
    const service = await this.#service(id);
    if (!service || !this.#owns(service.Spec?.Labels)) throw new BeamstalkError(service ? "forbidden" : "not_found", `service ${id} is not a Beamstalk replica`);
    return { service, task: currentTask(await this.#tasks(id)) };
  }

  async #replica(id: string): Promise<Replica | null> {
    const service = await this.#service(id);
    return service ? toReplica(service, await this.#tasks(id)) : null;
  }

  async #container(id: string): Promise<Docker.Container> {
    const { service, task } = await this.#owned(id);
    const containerId = containerOf(task);
    if (!containerId || !task?.NodeID) throw new BeamstalkError("conflict", `replica ${service.Spec?.Name} has no container yet`);
    return (await this.#engineFor(task.NodeID)).getContainer(containerId);
  }

  /** A removed service has no tasks (Swarm answers 404 for its filter). */
  async #tasks(serviceId: string): Promise<SwarmTask[]> {
    return (await this.#docker.listTasks({ filters: { service: [serviceId] } }).catch((err) => {
      if (statusOf(err) === 404) return [];
      throw engineError(err, `listing the tasks of ${serviceId}`);
    })) as SwarmTask[];
  }

  /**
   * Replica services (of one app, or all): ours, and carrying an app (the agent's
   * carries none). Swarm ORs several label filters, so only one goes to the engine.
   */
  async #services(app?: string): Promise<Docker.Service[]> {
    const services = await this.#docker.listServices({ filters: { label: [`${LABEL.managed}=true`] } }).catch((err) => {
      throw engineError(err, "listing services");
    });
    return services.filter((s) => this.#owns(s.Spec?.Labels) && s.Spec?.Labels?.[LABEL.app] && (app === undefined || s.Spec.Labels[LABEL.app] === app));
  }

  async #tasksOf(services: Docker.Service[]): Promise<SwarmTask[]> {
    if (services.length === 0) return [];
    return (await this.#docker.listTasks({ filters: { service: services.map((s) => s.ID) } }).catch((err) => {
      throw engineError(err, "listing tasks");
    })) as SwarmTask[];
  }

  async #snapshot(): Promise<Snapshot> {
    const services = await this.#services();
    const tasks = await this.#tasksOf(services);
    await relaxPlacement(this.#docker, this.#logger, services, tasks);
    return new Map(services.map((s) => [s.ID, { app: s.Spec?.Labels?.[LABEL.app] ?? "", port: Number(s.Spec?.Labels?.[LABEL.port]), task: currentTask(tasks.filter((t) => t.ServiceID === s.ID)) }]));
  }

  async #engineFor(nodeId: string): Promise<Docker> {
    this.#localNodeId ??= this.#docker.info().then((info: { Swarm?: { NodeID?: string } }) => info.Swarm?.NodeID ?? "");
    if (nodeId === (await this.#localNodeId)) return this.#docker;
    if (!this.#nodes) throw new BeamstalkError("unreachable", `no way to reach the Docker engine of Swarm node ${nodeId.slice(0, 12)}`, "is the Beamstalk agent running on every node? beamstalk nodes");
    return this.#nodes.forNode(nodeId);
  }

  #owns(labels: Record<string, string> | undefined): boolean {
    if (labels?.[LABEL.managed] !== "true") return false;
    return Object.entries(this.#labels).every(([key, value]) => labels[key] === value);
  }
}

function placementKey(spec: ReplicaSpec): string {
  return `${spec.app}/${spec.process}/${spec.release}`;
}

