import type Docker from "dockerode";
import { badRequest } from "../../lib/errors.ts";
import { Secret } from "../../lib/secret.ts";
import { CONFIG_KEY, checkAppName } from "../../lib/validate.ts";
import type { JobSpec } from "../types.ts";
import { BOOT_MOUNT, LABEL, checkSlugUrl, cpusFor, internalName, networkName, sandbox, slugUrlEnv } from "./spec.ts";

/**
 * One-off job containers as plain data (DESIGN §5.1). A job is no replica: it
 * carries `beamstalk.job` instead of `beamstalk.managed`, so list(), events()
 * and the supervisor never see it; it joins the app's network under its own
 * host name only (not `<app>.internal`), publishes nothing and never restarts.
 */

export const JOB_LABEL = "beamstalk.job";
/** Seconds between SIGTERM and SIGKILL when a job is killed (timeout, client gone). */
export const JOB_KILL_GRACE_SECONDS = 5;
export const MAX_ARGV_ITEMS = 1024;
export const MAX_ARGV_BYTES = 64 * 1024;

const GIB = 1024 ** 3;
const SUFFIX = /^[a-z0-9]{4,12}$/;

export interface JobContainerOptions {
  bootScriptPath: string;
  /** Short random [a-z0-9] suffix: container name, host name, DYNO. */
  suffix: string;
  /** Extra labels (an installation or test id); ours win on a clash. */
  labels?: Record<string, string>;
}

/** `run-k3x9ab.myapp`: dotted like a replica's, so RELEASE_NODE works with `-name`. */
export function jobHost(app: string, suffix: string): string {
  return `run-${suffix}.${app}`;
}

export function jobLabels(app: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra, [JOB_LABEL]: "true", [LABEL.app]: app };
}

/** Label filters for an app's jobs (or every job). */
export function jobFilters(app: string | undefined, extra: Record<string, string> = {}): string[] {
  const labels = { ...extra, [JOB_LABEL]: "true", ...(app ? { [LABEL.app]: app } : {}) };
  return Object.entries(labels).map(([key, value]) => `${key}=${value}`);
}

/** Checks an argv before it reaches any engine: no empty command, no NUL, bounded. */
export function checkArgv(argv: unknown): string[] {
  if (!Array.isArray(argv) || argv.length === 0) throw badRequest("no command given", "give the command after --, e.g. `beamstalk run -- bin/myapp eval 'IO.puts(1)'`");
  if (argv.length > MAX_ARGV_ITEMS) throw badRequest(`at most ${MAX_ARGV_ITEMS} arguments`);
  let bytes = 0;
  for (const arg of argv) {
    if (typeof arg !== "string") throw badRequest("every argument must be a string");
    if (arg.includes("\0")) throw badRequest("an argument holds a NUL byte");
    bytes += Buffer.byteLength(arg) + 1;
  }
  if (bytes > MAX_ARGV_BYTES) throw badRequest(`the command line is longer than ${MAX_ARGV_BYTES / 1024} KiB`);
  if (argv[0] === "") throw badRequest("the command is empty");
  return argv as string[];
}

export function checkJobSpec(spec: JobSpec): void {
  checkAppName(spec.app);
  checkArgv(spec.argv);
  if (!Number.isSafeInteger(spec.release) || spec.release < 1) throw badRequest(`invalid release ${spec.release}`);
  if (!(spec.size > 0 && spec.size <= 64)) throw badRequest(`invalid size ${spec.size}`, "size is between 0 and 64 (1 size = 1 GiB, 0.2 CPU)");
  if (!spec.image || !spec.slugPath.startsWith("/")) throw badRequest("a job needs an image and an absolute slug path");
  checkSlugUrl(spec.slugUrl);
  for (const key of Object.keys(spec.env)) if (!CONFIG_KEY.test(key)) throw badRequest(`invalid env name ${JSON.stringify(key).slice(0, 40)}`);
}

/** What the runner sets for a job; it overrides a config var of the same name, as for replicas. */
export function jobEnv(spec: JobSpec, suffix: string): Record<string, string> {
  const host = jobHost(spec.app, suffix);
  return {
    DYNO: `run.${suffix}`,
    BEAMSTALK_APP: spec.app,
    BEAMSTALK_RELEASE: String(spec.release),
    BEAMSTALK_PROCESS: "run",
    RELEASE_DISTRIBUTION: "name",
    RELEASE_NODE: `${spec.app}@${host}`,
    MY_NODE_NAME: `${spec.app}@${host}`,
    DNS_CLUSTER_QUERY: internalName(spec.app),
  };
}

/** The exact dockerode create options for one job: the boot script execs `--exec ARGV…` as given. */
export function jobContainerSpec(spec: JobSpec, options: JobContainerOptions): Docker.ContainerCreateOptions {
  checkJobSpec(spec);
  if (!SUFFIX.test(options.suffix)) throw new Error(`jobContainerSpec: bad suffix ${options.suffix}`);
  const host = jobHost(spec.app, options.suffix);
  const network = networkName(spec.app);
  const env = { ...revealAll(spec.env), ...jobEnv(spec, options.suffix), ...slugUrlEnv(spec.slugUrl) };
  const memory = Math.round(spec.size * GIB);
  return {
    name: `beamstalk-${spec.app}-run-${options.suffix}`,
    Image: spec.image,
    Hostname: host,
    Entrypoint: ["/bin/bash", BOOT_MOUNT],
    Cmd: ["--exec", ...spec.argv],
    Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
    Labels: { ...jobLabels(spec.app, options.labels), [LABEL.release]: String(spec.release), [LABEL.host]: host },
    StopSignal: "SIGTERM",
    StopTimeout: JOB_KILL_GRACE_SECONDS,
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    OpenStdin: false,
    HostConfig: sandbox({ network, slugPath: spec.slugUrl ? null : spec.slugPath, bootScriptPath: options.bootScriptPath, memory, cpus: cpusFor(spec.size), restart: "no" }),
    NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: [host] } } },
  };
}

function revealAll(env: Record<string, string | Secret>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value instanceof Secret ? value.reveal() : value]));
}
