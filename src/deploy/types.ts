import type { UpgradePackage } from "../builder/types.ts";
import type { AppManifest } from "../lib/app-manifest.ts";
import type { Secret } from "../lib/secret.ts";

/** What the pipeline needs from the builder (src/builder implements it). */
export type BuildSlug = (options: {
  app: string;
  sourceDir: string;
  cacheDir: string;
  env: Record<string, string | Secret>;
  slugDir: string;
  onOutput: (line: string) => void;
  timeoutMs?: number;
  /** The running release's slug: a hot upgrade (the result then has `upgrade`). */
  previousSlug?: string;
}) => Promise<{ slug: { path: string; sha256: string; bytes: number }; processTypes: Record<string, string>; buildpacks: string[]; manifest?: AppManifest; upgrade?: UpgradePackage }>;

/** One ref update as git's pre-receive hook sees it. */
export interface RefUpdate {
  old: string;
  new: string;
  ref: string;
}

/** The hook's request to the daemon (see src/git/push-protocol.ts). */
export interface PushRequest {
  app: string;
  userId: number | null;
  repoPath: string;
  refs: RefUpdate[];
  gitEnv: Record<string, string | undefined>;
  pushOptions: string[];
  clean: boolean;
  /** Upgrade the running nodes in place (`-o hot`, BEAMSTALK-HOT: true); absent from older hooks. */
  hot?: boolean;
  /** Aborts when the pushing client went away (the hook's connection closed): a build still running is cancelled. */
  signal?: AbortSignal;
}

export interface DeploySettings {
  /** Health check bound for new replicas; an app can set BEAMSTALK_HEALTH_TIMEOUT (seconds). */
  healthTimeoutMs: number;
  /** How long old replicas may finish in-flight requests before they stop. */
  drainMs: number;
  buildTimeoutMs: number;
  maxSourceBytes: number;
  /** Bound of each release-phase command; an app can set BEAMSTALK_RELEASE_TIMEOUT (seconds). */
  releaseTimeoutMs: number;
}

export const DEFAULT_DEPLOY_SETTINGS: DeploySettings = {
  healthTimeoutMs: 60_000,
  drainMs: 30_000,
  buildTimeoutMs: 30 * 60_000,
  maxSourceBytes: 1024 ** 3,
  releaseTimeoutMs: 10 * 60_000,
};
