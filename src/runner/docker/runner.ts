import { accessSync, constants } from "node:fs";
import { dirname } from "node:path";
import type { Readable } from "node:stream";
import Docker from "dockerode";
import { BeamstalkError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/logger.ts";
import { checkAppName } from "../../lib/validate.ts";
import { writeBootScript } from "../boot-script.ts";
import type { ExecOptions, ExecSession, JobOptions, JobResult, JobSpec, LogFollow, LogLine, LogOptions, Replica, ReplicaEvent, ReplicaSpec, ReplicaStats, Runner, SlugDelivery } from "../types.ts";
import { ReplicaBootError, byIdentity, checkSlug, engineError, randomSuffix, redactError, secretsOf, statsOf, statusOf } from "./engine.ts";

export { ReplicaBootError };
import { dockerExec } from "./exec.ts";
import { removeJobs, runJobContainer } from "./job.ts";
import { checkJobSpec } from "./job-spec.ts";
import { JsonLogFollower } from "./json-log.ts";
import { followLines, logLines } from "./log-lines.ts";
import { LABEL, checkSpec, containerSpec, labelFilters, networkName, networkSpec } from "./spec.ts";

export interface DockerRunnerOptions {
  /** Directory the boot script is written to, e.g. `<dataDir>/runner`. */
  bootDir: string;
  logger: Logger;
  /** Defaults to the local engine at /var/run/docker.sock. */
  docker?: Docker;
  /** Extra labels put on, and required of, every object this runner touches. */
  labels?: Record<string, string>;
  /** How long start() waits for the boot script to unpack the slug and exec the process. */
  bootTimeoutMs?: number;
  /** Grace the engine gives on its own stops (daemon shutdown); stop() takes its own. */
  stopTimeoutSeconds?: number;
  /** CPUs a replica may use while booting, until settle() applies its size's limit. */
  bootCpus?: number;
  /**
   * "mount" (default): the slug file is bind-mounted read-only. "url": containers
   * download it from the controller, as replicas on other hosts must (how that path
   * is tested on one host); specs must then carry a slugUrl.
   */
  slugDelivery?: SlugDelivery;
}

const READY_LINE = "beamstalk-boot: starting process";
const BOOT_PREFIX = "beamstalk-boot: ";
const ERROR_PREFIX = "beamstalk-boot: error: ";
const NO_TIME = "0001-01-01T00:00:00Z";

/**
 * Runs replicas as containers on one Docker engine. It keeps no state of its own:
 * everything is found again by labels, and nothing here stops containers when the
 * daemon shuts down.
 */
export class DockerRunner implements Runner {
  readonly slugDelivery: SlugDelivery;
  readonly #docker: Docker;
  readonly #logger: Logger;
  readonly #labels: Record<string, string>;
  readonly #bootScriptPath: string;
  readonly #bootTimeoutMs: number;
  readonly #stopTimeoutSeconds: number;
  readonly #bootCpus: number | undefined;

  constructor(options: DockerRunnerOptions) {
    this.#docker = options.docker ?? new Docker({ socketPath: "/var/run/docker.sock" });
    this.#logger = options.logger;
    this.#labels = options.labels ?? {};
    this.#bootScriptPath = writeBootScript(options.bootDir);
    this.#bootCpus = options.bootCpus;
    this.#bootTimeoutMs = options.bootTimeoutMs ?? 60_000;
    this.#stopTimeoutSeconds = options.stopTimeoutSeconds ?? 30;
    this.slugDelivery = options.slugDelivery ?? "mount";
  }

  async ensureNetwork(app: string): Promise<void> {
    const name = networkName(checkAppName(app));
    const existing = await this.#inspectNetwork(name);
    if (existing) {
      if (existing.Labels?.[LABEL.managed] !== "true") {
        throw new BeamstalkError("conflict", `docker network ${name} exists but Beamstalk did not create it`, `remove it: docker network rm ${name}`);
      }
      return;
    }
    try {
      await this.#docker.createNetwork(networkSpec(app, this.#labels));
      this.#logger.info("runner.network.created", { app, network: name });
    } catch (err) {
      if (statusOf(err) !== 409 || !(await this.#inspectNetwork(name))) throw engineError(err, `creating network ${name}`);
    }
  }

  async start(spec: ReplicaSpec): Promise<Replica> {
    checkSpec(spec);
    this.#checkSlugSource(spec);
    await this.ensureNetwork(spec.app);
    const options = containerSpec(spec, { bootScriptPath: this.#bootScriptPath, suffix: randomSuffix(), labels: this.#labels, stopTimeoutSeconds: this.#stopTimeoutSeconds, ...(this.#bootCpus ? { bootCpus: this.#bootCpus } : {}) });
    const what = { app: spec.app, release: spec.release, process: spec.process, index: spec.index, name: options.name };
    this.#logger.info("runner.replica.starting", what);
    const began = performance.now();
    const container = await this.#docker.createContainer(options).catch((err) => {
      const failure = redactError(engineError(err, `creating ${options.name}`), secretsOf(spec));
      this.#logger.error("runner.replica.failed", { ...what, error: failure.message });
      throw failure;
    });
    try {
      await container.start();
      const boot = await this.#waitForBoot(container);
      if (!boot.ok) throw new ReplicaBootError(`replica ${spec.process}.${spec.index} of ${spec.app} v${spec.release} failed to boot: ${boot.reason}`, boot.output);
      const replica = toReplica(await container.inspect());
      this.#logger.info("runner.replica.started", { ...what, id: replica.id.slice(0, 12), ip: replica.address.host, ms: Math.round(performance.now() - began) });
      return replica;
    } catch (err) {
      await container.remove({ force: true }).catch(() => {});
      const failure = err instanceof ReplicaBootError ? err : redactError(engineError(err, `starting ${options.name}`), secretsOf(spec));
      this.#logger.error("runner.replica.failed", { ...what, error: failure.message });
      throw failure;
    }
  }

  async *events(signal: AbortSignal): AsyncIterable<ReplicaEvent> {
    const filters = { type: ["container" as const], event: ["start", "die", "destroy"], label: labelFilters(undefined, this.#labels) };
    const stream = (await this.#docker.getEvents({ filters }).catch((err) => {
      throw engineError(err, "watching events");
    })) as unknown as Readable;
    const stop = () => stream.destroy();
    signal.addEventListener("abort", stop, { once: true });
    try {
      let rest = "";
      for await (const chunk of stream) {
        rest += chunk.toString();
        const lines = rest.split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) {
          if (!line.trim()) continue;
          const e = JSON.parse(line) as { Action?: string; id?: string; Actor?: { ID?: string; Attributes?: Record<string, string> } };
          const action = e.Action;
          if (action !== "start" && action !== "die" && action !== "destroy") continue;
          yield { id: e.id ?? e.Actor?.ID ?? "", app: e.Actor?.Attributes?.[LABEL.app] ?? "", action };
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      signal.removeEventListener("abort", stop);
    }
  }

  async revive(id: string): Promise<Replica> {
    const container = this.#docker.getContainer(id);
    const info = await container.inspect().catch((err) => {
      throw engineError(err, `inspecting ${id}`);
    });
    if (!this.#owns(info.Config.Labels)) throw new BeamstalkError("forbidden", `container ${id} is not a Beamstalk replica`);
    await container.start().catch((err) => {
      if (statusOf(err) !== 304) throw engineError(err, `starting ${info.Name}`);
    });
    return toReplica(await container.inspect());
  }

  async stats(id: string): Promise<ReplicaStats> {
    const s = (await this.#docker.getContainer(id).stats({ stream: false }).catch((err) => {
      throw engineError(err, `reading stats of ${id}`);
    })) as unknown as Docker.ContainerStats;
    return statsOf(s);
  }

  async settle(id: string): Promise<void> {
    const container = this.#docker.getContainer(id);
    const info = await container.inspect().catch((err) => {
      throw engineError(err, `inspecting ${id}`);
    });
    if (!this.#owns(info.Config.Labels)) throw new BeamstalkError("forbidden", `container ${id} is not a Beamstalk replica`);
    const nanoCpus = Math.round(Number(info.Config.Labels[LABEL.cpus]) * 1e9);
    if (!(nanoCpus > 0) || info.HostConfig.NanoCpus === nanoCpus) return;
    await container.update({ NanoCpus: nanoCpus }).catch((err) => {
      throw engineError(err, `limiting ${info.Name}`);
    });
  }

  async stop(id: string, graceSeconds = 30): Promise<void> {
    const container = this.#docker.getContainer(id);
    const info = await container.inspect().catch((err) => {
      if (statusOf(err) === 404) return null;
      throw engineError(err, `inspecting ${id}`);
    });
    if (!info) return;
    if (!this.#owns(info.Config.Labels)) throw new BeamstalkError("forbidden", `container ${id} is not a Beamstalk replica`);
    const began = performance.now();
    await container.stop({ t: Math.max(0, Math.round(graceSeconds)) }).catch((err) => {
      if (statusOf(err) !== 304 && statusOf(err) !== 404) throw engineError(err, `stopping ${info.Name}`);
    });
    await container.remove({ force: true }).catch((err) => {
      if (statusOf(err) !== 404 && statusOf(err) !== 409) throw engineError(err, `removing ${info.Name}`);
    });
    this.#logger.info("runner.replica.stopped", { app: info.Config.Labels[LABEL.app], name: info.Name.replace(/^\//, ""), ms: Math.round(performance.now() - began) });
  }

  async list(app?: string): Promise<Replica[]> {
    if (app !== undefined) checkAppName(app);
    const summaries = await this.#docker.listContainers({ all: true, filters: { label: labelFilters(app, this.#labels) } }).catch((err) => {
      throw engineError(err, "listing containers");
    });
    const infos = await Promise.all(summaries.map((s) => this.#docker.getContainer(s.Id).inspect().catch(() => null)));
    return infos.filter((info) => info !== null).map(toReplica).sort(byIdentity);
  }

  async removeApp(app: string): Promise<void> {
    checkAppName(app);
    const replicas = await this.list(app);
    await Promise.all(replicas.map((r) => this.stop(r.id, 10)));
    await this.removeJobsOf(app);
    const networks = await this.#docker.listNetworks({ filters: { label: labelFilters(app, this.#labels) } });
    for (const network of networks) {
      await this.#docker.getNetwork(network.Id).remove().catch((err) => {
        if (statusOf(err) !== 404) throw engineError(err, `removing network ${network.Name}`);
      });
    }
    this.#logger.info("runner.app.removed", { app, replicas: replicas.length, networks: networks.length });
  }

  /** Kills and removes the app's one-off jobs. */
  async removeJobsOf(app: string): Promise<void> {
    await removeJobs(this.#docker, checkAppName(app), this.#labels).catch((err) => this.#logger.warn("runner.job.remove_failed", { app, error: (err as Error).message }));
  }

  async *logs(id: string, options: LogOptions = {}): AsyncGenerator<LogLine> {
    const container = this.#docker.getContainer(id);
    const info = await container.inspect();
    if (!this.#owns(info.Config.Labels)) throw new BeamstalkError("forbidden", `container ${id} is not a Beamstalk replica`);
    const base = { stdout: true, stderr: true, ...(options.tail !== undefined ? { tail: options.tail } : {}) };
    if (!options.follow) {
      yield* logLines([await container.logs({ ...base, follow: false })]);
      return;
    }
    yield* followLines((await container.logs({ ...base, follow: true })) as Readable, options.signal);
  }

  /**
   * Follows the replica's json-file log from Docker's files (see json-log.ts), which
   * counts the lines Docker's ring drops. Null when the files are not on this host
   * (an engine reached over TCP) or the log is not json-file: logs() then.
   */
  async followLog(id: string, options: { from?: string; signal?: AbortSignal }): Promise<LogFollow | null> {
    const info = await this.#docker.getContainer(id).inspect();
    if (!this.#owns(info.Config.Labels)) throw new BeamstalkError("forbidden", `container ${id} is not a Beamstalk replica`);
    const path = info.LogPath;
    if (info.HostConfig.LogConfig?.Type !== "json-file" || !path || !path.includes(info.Id)) return null;
    try {
      accessSync(dirname(path), constants.R_OK | constants.X_OK);
    } catch {
      return null;
    }
    return new JsonLogFollower(path, options);
  }

  async exec(id: string, argv: string[], options: ExecOptions): Promise<ExecSession> {
    const container = this.#docker.getContainer(id);
    const info = await container.inspect().catch((err) => {
      throw engineError(err, `inspecting ${id}`);
    });
    if (!this.#owns(info.Config.Labels)) throw new BeamstalkError("forbidden", `container ${id} is not a Beamstalk replica`);
    if (!info.State.Running) throw new BeamstalkError("conflict", `replica ${info.Name.replace(/^\//, "")} is not running`);
    return dockerExec(this.#docker, container, argv, options).catch((err) => {
      throw engineError(err, `running a command in ${info.Name.replace(/^\//, "")}`);
    });
  }

  async runJob(spec: JobSpec, options: JobOptions): Promise<JobResult> {
    checkJobSpec(spec);
    this.#checkSlugSource(spec);
    await this.ensureNetwork(spec.app);
    const engine = { docker: this.#docker, logger: this.#logger, labels: this.#labels, bootScriptPath: this.#bootScriptPath, suffix: randomSuffix() };
    return runJobContainer(engine, spec, options).catch((err) => {
      throw redactError(engineError(err, `running a job of ${spec.app}`), secretsOf(spec));
    });
  }

  /** Waits until the boot script execs the process, or fails (error line, exit, timeout). */
  async #waitForBoot(container: Docker.Container): Promise<{ ok: true } | { ok: false; reason: string; output: string[] }> {
    const output: string[] = [];
    const stream = (await container.logs({ follow: true, stdout: true, stderr: true })) as Readable;
    let verdict: { ok: true } | { ok: false; reason: string } | null = null;
    const reading = (async () => {
      for await (const { line } of logLines(stream)) {
        if (!line.startsWith(BOOT_PREFIX)) continue; // app output may carry anything; keep only ours
        output.push(line);
        if (line === READY_LINE) return void (verdict ??= { ok: true });
        if (line.startsWith(ERROR_PREFIX)) return void (verdict ??= { ok: false, reason: line.slice(ERROR_PREFIX.length) });
      }
    })().catch(() => {});
    const deadline = Date.now() + this.#bootTimeoutMs;
    try {
      while (!verdict) {
        await Bun.sleep(50);
        if (verdict) break;
        const { State } = await container.inspect();
        if (State.Status === "exited" || State.Status === "dead" || State.Restarting || State.Status === "restarting") {
          await Promise.race([reading, Bun.sleep(500)]);
          verdict ??= { ok: false, reason: `the container exited with code ${State.ExitCode} before the process started` };
        } else if (Date.now() > deadline) {
          verdict = { ok: false, reason: `the boot script did not start the process within ${this.#bootTimeoutMs} ms` };
        }
      }
    } finally {
      stream.destroy();
    }
    const result = verdict as { ok: true } | { ok: false; reason: string };
    return result.ok ? result : { ...result, output };
  }

  async #inspectNetwork(name: string): Promise<Docker.NetworkInspectInfo | null> {
    try {
      return (await this.#docker.getNetwork(name).inspect()) as Docker.NetworkInspectInfo;
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw engineError(err, `inspecting network ${name}`);
    }
  }

  /** A mounted slug is checked before any container exists; a downloaded one by the boot script. */
  #checkSlugSource(spec: Pick<ReplicaSpec, "slugPath" | "slugUrl">): void {
    if (spec.slugUrl) return;
    if (this.slugDelivery === "url") throw new BeamstalkError("internal", "this runner delivers slugs by URL, but the spec has no slugUrl");
    checkSlug(spec.slugPath);
  }

  #owns(labels: Record<string, string> | undefined): boolean {
    if (labels?.[LABEL.managed] !== "true") return false;
    return Object.entries(this.#labels).every(([key, value]) => labels[key] === value);
  }
}

export function toReplica(info: Docker.ContainerInspectInfo): Replica {
  const labels = info.Config.Labels ?? {};
  const app = labels[LABEL.app] ?? "";
  const ip = info.NetworkSettings.Networks[networkName(app)]?.IPAddress ?? "";
  return {
    id: info.Id,
    name: info.Name.replace(/^\//, ""),
    hostname: labels[LABEL.host] ?? info.Config.Hostname,
    app,
    release: Number(labels[LABEL.release]),
    process: labels[LABEL.process] ?? "",
    index: Number(labels[LABEL.index]),
    address: { host: ip, port: Number(labels[LABEL.port]) },
    state: stateOf(info.State),
    startedAt: info.State.StartedAt && info.State.StartedAt !== NO_TIME ? info.State.StartedAt : null,
    restarts: info.RestartCount ?? 0,
    size: Math.round(((info.HostConfig.Memory ?? 0) / 1024 ** 3) * 10) / 10,
  };
}

function stateOf(state: Docker.ContainerInspectInfo["State"]): Replica["state"] {
  if (state.Restarting) return "restarting";
  switch (state.Status) {
    case "created":
      return "starting";
    case "running":
      return "running";
    case "exited":
    case "dead":
      return "exited";
    default:
      return "unknown";
  }
}
