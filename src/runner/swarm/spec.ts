import type Docker from "dockerode";
import { badRequest } from "../../lib/errors.ts";
import { Secret } from "../../lib/secret.ts";
import { checkAppName } from "../../lib/validate.ts";
import { BOOT_MOUNT, LABEL, appLabels, checkSpec, containerName, cpusFor, internalName, networkName, replicaEnv, replicaHost } from "../docker/spec.ts";
import type { ReplicaSpec } from "../types.ts";

/**
 * Swarm objects as plain data (DESIGN §5.1), asserted exactly by spec.test.ts.
 *
 * One service per replica, one task each: the Runner interface starts, checks
 * and stops replicas one by one (a rollout health-checks each new replica and
 * a scale retires the highest index), which a service per process type with N
 * tasks cannot express: Swarm picks which task a scale-down removes. Swarm
 * still does the engine's work: it places each task (spreading by the tasks a
 * node already runs), restarts a task that dies, and moves it to another host
 * when its host is lost.
 */

const GIB = 1024 ** 3;
const SUFFIX = /^[a-z0-9]{4,12}$/;

/** Where a replica on any host fetches its slug and how it proves it may. */
export interface SlugSource {
  url: string;
  token: Secret;
}

export interface ServiceSpecOptions {
  suffix: string;
  /** The Swarm config holding boot.sh (configs reach every host; a bind mount would not). */
  bootConfig: { id: string; name: string };
  slug: SlugSource;
  labels?: Record<string, string>;
  stopTimeoutSeconds?: number;
  /** CPUs a replica may use while it boots; settle() lowers its container to the size's limit. */
  bootCpus?: number;
  /** Hosts (Swarm node ids) to keep this replica off: those running its siblings (see spreadConstraints). */
  avoidNodes?: string[];
}

/**
 * Swarm spreads the tasks of one service over hosts, but a replica is a service
 * of its own here: so a replica is kept off the hosts that already run its
 * siblings (same app, process type and release) while another host can take it.
 * These are hard constraints; when a host dies and none is left to satisfy
 * them, the runner drops them (relaxPlacement) and Swarm places the task anywhere.
 */
export function spreadConstraints(siblingNodes: readonly string[], readyNodes: readonly string[]): string[] {
  const busy = new Set(siblingNodes);
  if (!readyNodes.some((n) => !busy.has(n))) return [];
  return [...busy].sort().map((id) => `node.id!=${id}`);
}

/** An overlay per app, attachable so the controller's gateway container can join it. */
export function overlaySpec(app: string, extra: Record<string, string> = {}): Docker.NetworkCreateOptions {
  return {
    Name: networkName(checkAppName(app)),
    Driver: "overlay",
    CheckDuplicate: true,
    Attachable: true,
    Internal: false,
    Labels: appLabels(app, extra),
  };
}

/** The boot script as a mounted Swarm config, read-only and executable. */
export function bootMount(config: { id: string; name: string }): Docker.ConfigReference {
  return { ConfigID: config.id, ConfigName: config.name, File: { Name: BOOT_MOUNT, UID: "0", GID: "0", Mode: 0o555 } };
}

/** The exact service create body for one replica. Secret values are revealed here, into Env, and nowhere else. */
export function serviceSpec(spec: ReplicaSpec, options: ServiceSpecOptions): Docker.CreateServiceOptions {
  checkSpec(spec);
  if (!SUFFIX.test(options.suffix)) throw new Error(`serviceSpec: bad suffix ${options.suffix}`);
  if (!/^https?:\/\//.test(options.slug.url)) throw badRequest("a replica on Swarm needs an http(s) slug URL");
  const host = replicaHost(spec, options.suffix);
  const env = {
    RELEASE_DISTRIBUTION: "name",
    ...revealAll(spec.env),
    ...replicaEnv(spec, host),
    BEAMSTALK_SLUG_URL: options.slug.url,
    BEAMSTALK_SLUG_TOKEN: options.slug.token.reveal(),
  };
  const labels = {
    ...appLabels(spec.app, options.labels),
    [LABEL.release]: String(spec.release),
    [LABEL.process]: spec.process,
    [LABEL.index]: String(spec.index),
    [LABEL.port]: String(spec.port),
    [LABEL.host]: host,
    [LABEL.cpus]: String(cpusFor(spec.size)),
  };
  const memory = Math.round(spec.size * GIB);
  const nanoCpus = Math.round(cpusFor(spec.size) * 1e9);
  return {
    Name: containerName(spec, options.suffix),
    Labels: labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: spec.image,
        Hostname: host,
        Command: ["/bin/bash", BOOT_MOUNT],
        Args: [],
        Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
        Labels: labels,
        Init: true,
        StopSignal: "SIGTERM",
        StopGracePeriod: (options.stopTimeoutSeconds ?? 30) * 1e9,
        Configs: [bootMount(options.bootConfig)],
      },
      Resources: {
        Limits: { NanoCPUs: Math.max(nanoCpus, Math.round((options.bootCpus ?? 0) * 1e9)), MemoryBytes: memory },
        Reservations: { NanoCPUs: nanoCpus, MemoryBytes: memory },
      },
      // Swarm restarts a task that exits (a new container, maybe on another host).
      RestartPolicy: { Condition: "any", Delay: 1e9, MaxAttempts: 0 },
      ...(options.avoidNodes?.length ? { Placement: { Constraints: options.avoidNodes.map((id) => `node.id!=${id}`) } } : {}),
      Networks: [{ Target: networkName(spec.app), Aliases: [internalName(spec.app), host] }],
      LogDriver: { Name: "json-file", Options: { "max-size": "10m", "max-file": "3" } },
    },
    Mode: { Replicated: { Replicas: 1 } },
    // DNS answers with the tasks' own addresses (what clustering dials), never a virtual IP; nothing is published.
    EndpointSpec: { Mode: "dnsrr" },
  };
}

function revealAll(env: Record<string, string | Secret>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value instanceof Secret ? value.reveal() : value]));
}
