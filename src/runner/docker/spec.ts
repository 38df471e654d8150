import type Docker from "dockerode";
import { badRequest } from "../../lib/errors.ts";
import { Secret } from "../../lib/secret.ts";
import { CONFIG_KEY, checkAppName } from "../../lib/validate.ts";
import type { ReplicaSpec, SlugUrl } from "../types.ts";

/**
 * Replica and network specs as plain data (DESIGN §5.1): what DockerRunner hands
 * to dockerode, asserted exactly by spec.test.ts. Secret values are revealed
 * here, into the Env of the create body, and nowhere else.
 */

export const SLUG_MOUNT = "/beamstalk/slug.tar.gz";
export const BOOT_MOUNT = "/beamstalk/boot";
export const LABEL = {
  managed: "beamstalk.managed",
  app: "beamstalk.app",
  release: "beamstalk.release",
  process: "beamstalk.process",
  index: "beamstalk.index",
  port: "beamstalk.port",
  host: "beamstalk.host",
  /** The CPU limit the replica's size gives; `settle` applies it after a boot burst. */
  cpus: "beamstalk.cpus",
} as const;

const GIB = 1024 ** 3;
const PROCESS = /^[A-Za-z0-9][A-Za-z0-9_-]{0,29}$/;
const SUFFIX = /^[a-z0-9]{4,12}$/;

export interface ContainerSpecOptions {
  /** Host path of the boot script (see writeBootScript). */
  bootScriptPath: string;
  /** Short random [a-z0-9] suffix that makes the container name and host name unique. */
  suffix: string;
  /** Extra labels on every object (an installation or test id); ours win on a clash. */
  labels?: Record<string, string>;
  /** Seconds between SIGTERM and SIGKILL when the engine itself stops the container. */
  stopTimeoutSeconds?: number;
  /** CPUs a replica may use while it boots, until settled to its size's limit (default: the size's limit). */
  bootCpus?: number;
}

/**
 * What every container from a slug shares, replica or job: its app's network,
 * the boot script (and the slug, unless it is downloaded: slugPath null) mounted
 * read-only, no published port, memory without swap, a CPU cap, an init, no
 * privilege gain, capped logs.
 */
export function sandbox(o: { network: string; slugPath: string | null; bootScriptPath: string; memory: number; cpus: number; restart: "unless-stopped" | "no" }): Docker.HostConfig {
  return {
    NetworkMode: o.network,
    Mounts: [
      ...(o.slugPath === null ? [] : [{ Type: "bind" as const, Source: o.slugPath, Target: SLUG_MOUNT, ReadOnly: true }]),
      { Type: "bind", Source: o.bootScriptPath, Target: BOOT_MOUNT, ReadOnly: true },
    ],
    PortBindings: {},
    PublishAllPorts: false,
    Memory: o.memory,
    MemorySwap: o.memory,
    NanoCpus: Math.round(o.cpus * 1e9),
    RestartPolicy: { Name: o.restart, MaximumRetryCount: 0 },
    Init: true,
    SecurityOpt: ["no-new-privileges:true"],
    LogConfig: { Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } },
  };
}

/** 1 size = 0.2 CPU. */
export function cpusFor(size: number): number {
  return Math.round(size * 0.2 * 1000) / 1000;
}

export function networkName(app: string): string {
  return `beamstalk-${app}`;
}

/** The DNS name every replica of the app answers to on its network (dns_cluster, libcluster). */
export function internalName(app: string): string {
  return `${app}.internal`;
}

/** `web-1-k3x9.myapp`: dotted (Erlang `-name` needs it) and unique per container. */
export function replicaHost(spec: Pick<ReplicaSpec, "app" | "process" | "index">, suffix: string): string {
  return `${spec.process.toLowerCase().replaceAll("_", "-")}-${spec.index}-${suffix}.${spec.app}`;
}

export function containerName(spec: Pick<ReplicaSpec, "app" | "process" | "index" | "release">, suffix: string): string {
  return `beamstalk-${spec.app}-${spec.process}-${spec.index}-v${spec.release}-${suffix}`;
}

export function appLabels(app: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra, [LABEL.managed]: "true", [LABEL.app]: app };
}

/** What every replica of every engine is labelled with: its app, release, process type, index and port. */
export function replicaLabels(spec: Pick<ReplicaSpec, "app" | "release" | "process" | "index" | "port">, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...appLabels(spec.app, extra),
    [LABEL.release]: String(spec.release),
    [LABEL.process]: spec.process,
    [LABEL.index]: String(spec.index),
    [LABEL.port]: String(spec.port),
  };
}

/** Label filters for listing our objects (of one app, or all). */
export function labelFilters(app: string | undefined, extra: Record<string, string> = {}): string[] {
  const labels = { ...extra, [LABEL.managed]: "true", ...(app ? { [LABEL.app]: app } : {}) };
  return Object.entries(labels).map(([key, value]) => `${key}=${value}`);
}

export function networkSpec(app: string, extra: Record<string, string> = {}): Docker.NetworkCreateOptions {
  return {
    Name: networkName(checkAppName(app)),
    Driver: "bridge",
    CheckDuplicate: true,
    Internal: false,
    Attachable: false,
    Labels: appLabels(app, extra),
    Options: { "com.docker.network.bridge.enable_icc": "true" },
  };
}

/**
 * The environment the runner owns: it depends on the replica, so it overrides a
 * config var of the same name. The rest of DESIGN §3 comes in spec.env.
 */
export function replicaEnv(spec: ReplicaSpec, host: string): Record<string, string> {
  return {
    PORT: String(spec.port),
    DYNO: `${spec.process}.${spec.index}`,
    BEAMSTALK_APP: spec.app,
    BEAMSTALK_RELEASE: String(spec.release),
    BEAMSTALK_PROCESS: spec.process,
    BEAMSTALK_INDEX: String(spec.index),
    BEAMSTALK_COMMAND: spec.command,
    // The boot script replaces these with `<app>@<the container's IP>` once it knows the IP.
    RELEASE_NODE: `${spec.app}@${host}`,
    MY_NODE_NAME: `${spec.app}@${host}`,
    DNS_CLUSTER_QUERY: internalName(spec.app),
  };
}

/** What the boot script downloads the slug with; the token is revealed here, into Env, and nowhere else. */
export function slugUrlEnv(slugUrl: SlugUrl | undefined): Record<string, string> {
  if (!slugUrl) return {};
  return { BEAMSTALK_SLUG_URL: slugUrl.url, BEAMSTALK_SLUG_TOKEN: slugUrl.token.reveal() };
}

/** A slug URL the boot script accepts: http(s), nothing curl's config could misread, a token of token characters. */
export function checkSlugUrl(slugUrl: SlugUrl | undefined): void {
  if (!slugUrl) return;
  if (!/^https?:\/\/[^\s"\\]+$/.test(slugUrl.url)) throw badRequest("a slug URL must be an http(s) URL without spaces or quotes");
  if (!(slugUrl.token instanceof Secret) || !/^[A-Za-z0-9._~+/=-]+$/.test(slugUrl.token.reveal())) throw badRequest("a slug URL needs a token (a Secret of token characters)");
}

export function checkSpec(spec: ReplicaSpec): void {
  checkAppName(spec.app);
  if (!PROCESS.test(spec.process)) throw badRequest(`invalid process type ${JSON.stringify(spec.process).slice(0, 40)}`, "process types are letters, digits, '_' or '-', up to 30");
  for (const [name, value, min] of [["release", spec.release, 1], ["index", spec.index, 1], ["port", spec.port, 1]] as const) {
    if (!Number.isSafeInteger(value) || value < min) throw badRequest(`invalid ${name} ${value}`);
  }
  if (spec.port > 65535) throw badRequest(`invalid port ${spec.port}`);
  if (!(spec.size > 0 && spec.size <= 64)) throw badRequest(`invalid size ${spec.size}`, "size is between 0 and 64 (1 size = 1 GiB, 0.2 CPU)");
  if (spec.command.trim() === "") throw badRequest("empty process command");
  if (!spec.image || !spec.slugPath.startsWith("/")) throw badRequest("a replica needs an image and an absolute slug path");
  checkSlugUrl(spec.slugUrl);
  for (const key of Object.keys(spec.env)) if (!CONFIG_KEY.test(key)) throw badRequest(`invalid env name ${JSON.stringify(key).slice(0, 40)}`);
}

/** The exact dockerode create options for one replica. */
export function containerSpec(spec: ReplicaSpec, options: ContainerSpecOptions): Docker.ContainerCreateOptions {
  checkSpec(spec);
  if (!SUFFIX.test(options.suffix)) throw new Error(`containerSpec: bad suffix ${options.suffix}`);
  const host = replicaHost(spec, options.suffix);
  const network = networkName(spec.app);
  // Distribution by name is the default; an app without distribution may say RELEASE_DISTRIBUTION=none.
  const env = { RELEASE_DISTRIBUTION: "name", ...revealAll(spec.env), ...replicaEnv(spec, host), ...slugUrlEnv(spec.slugUrl) };
  const memory = Math.round(spec.size * GIB);
  return {
    name: containerName(spec, options.suffix),
    Image: spec.image,
    Hostname: host,
    Entrypoint: ["/bin/bash", BOOT_MOUNT],
    Cmd: [],
    Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
    Labels: {
      ...appLabels(spec.app, options.labels),
      [LABEL.release]: String(spec.release),
      [LABEL.process]: spec.process,
      [LABEL.index]: String(spec.index),
      [LABEL.port]: String(spec.port),
      [LABEL.host]: host,
      [LABEL.cpus]: String(cpusFor(spec.size)),
    },
    StopSignal: "SIGTERM",
    StopTimeout: options.stopTimeoutSeconds ?? 30,
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    OpenStdin: false,
    HostConfig: sandbox({
      network,
      slugPath: spec.slugUrl ? null : spec.slugPath,
      bootScriptPath: options.bootScriptPath,
      memory,
      cpus: Math.max(cpusFor(spec.size), options.bootCpus ?? 0),
      restart: "unless-stopped",
    }),
    NetworkingConfig: {
      EndpointsConfig: { [network]: { Aliases: [internalName(spec.app), host] } },
    },
  };
}

function revealAll(env: Record<string, string | Secret>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value instanceof Secret ? value.reveal() : value]));
}
