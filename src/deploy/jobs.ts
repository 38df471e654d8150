import { BeamstalkError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import { checkArgv } from "../runner/docker/job-spec.ts";
import type { JobOptions, JobResult, JobSpec, Runner } from "../runner/types.ts";
import { RELEASE_NAME, RELEASE_NAME_FILE } from "../ssh/release-command.ts";
import type { App, State } from "../state/index.ts";
import { replicaEnv } from "./env.ts";
import { slugSource } from "./slug-source.ts";

export type { JobOptions, JobResult, JobSpec };
export { checkArgv };

export interface JobsDeps {
  state: State;
  runner: Pick<Runner, "runJob" | "slugDelivery">;
  /** Resolves once the stack images exist. */
  stackReady: () => Promise<{ runImage: string }>;
  /** `<dataDir>/slugs`. */
  slugsDir: string;
  logger: Logger;
  baseDomain?: string;
  /** The base URL jobs reach the controller at, for a runner that delivers slugs by URL. */
  controllerUrl?: () => string;
}

/**
 * `run MODULE FUNCTION`: `bin/<release> eval EXPR` with the release the builder named. The
 * expression arrives as "$1" and is never part of the script; the name is checked before use.
 */
export const RELEASE_EVAL_SCRIPT =
  `name=$(cat ${RELEASE_NAME_FILE} 2>/dev/null); if [[ ! $name =~ ${RELEASE_NAME.source} || ! -x /app/bin/$name ]]; then ` +
  `echo "this release has no bin/<release> to call a function with (is it a mix or Distillery release?)" >&2; exit 1; fi; exec "/app/bin/$name" eval "$1"`;

export function releaseCallArgv(expr: string): string[] {
  return ["/bin/bash", "-c", RELEASE_EVAL_SCRIPT, "beamstalk", expr];
}

export const DEFAULT_JOB_TIMEOUT_SECONDS = 300;
export const MAX_JOB_TIMEOUT_SECONDS = 24 * 60 * 60;

/**
 * One-off jobs (`beamstalk run`): the app's serving release, its slug and the
 * same environment a replica gets (DESIGN §3), with an argv instead of a
 * Procfile command. The runner runs it; this decides what it runs.
 */
export class Jobs {
  constructor(private readonly deps: JobsDeps) {}

  /** The job for the app's current release; a clear error when nothing was deployed yet. */
  async prepare(app: App, request: { argv: string[]; size: number }): Promise<JobSpec> {
    const { state } = this.deps;
    const argv = checkArgv(request.argv);
    const release = state.releases.current(app.id);
    if (!release?.slug) {
      throw new BeamstalkError("conflict", `${app.name} has no deployed release to run a command in`, "deploy it first: git push beamstalk main");
    }
    const config = state.releases.config(app.id, app.name, release.version) ?? {};
    const secrets = state.apps.secrets(app);
    const host = this.deps.baseDomain ? `${app.name}.${this.deps.baseDomain}` : undefined;
    const { runImage } = await this.deps.stackReady();
    const { runner, slugsDir, controllerUrl } = this.deps;
    return {
      app: app.name,
      release: release.version,
      image: runImage,
      argv,
      ...slugSource({ runner, tokens: state.slugTokens, slugsDir, ...(controllerUrl ? { controllerUrl } : {}) }, app, release),
      env: replicaEnv({ app: app.name, config, secretKeyBase: secrets.secretKeyBase, cookie: secrets.cookie, ...(host ? { host } : {}) }),
      size: request.size,
    };
  }

  run(spec: JobSpec, options: JobOptions): Promise<JobResult> {
    return this.deps.runner.runJob(spec, options);
  }
}
