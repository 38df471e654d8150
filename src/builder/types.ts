import type { AppManifest } from "../lib/app-manifest.ts";
import type { Secret } from "../lib/secret.ts";

export interface BuildOptions {
  app: string;
  /** Host directory with the app's source tree (checked out by the caller; never modified). */
  sourceDir: string;
  /** Host directory kept per app between builds (deps, _build); the caller wipes it for a clean build. */
  cacheDir: string;
  /** Config vars: reach the build as ENV_DIR files, one per var; never in argv or output. */
  env: Record<string, string | Secret>;
  /** Git URLs (`#ref` allowed) or paths relative to the source; default: `.buildpacks`, else the built-in Elixir buildpack. */
  buildpacks?: string[];
  /** Host directory where slugs go, as `<sha256>.tar.gz`. */
  slugDir: string;
  /** Default 1 GiB. */
  maxSlugBytes?: number;
  /** Default 30 minutes. */
  timeoutMs?: number;
  /** Every line of build output, live. */
  onOutput?: (line: string) => void;
  signal?: AbortSignal;
  /** Build image; default beamstalk/build:bookworm. */
  image?: string;
  /** Memory limit of the build container; default 2 GiB. */
  memoryBytes?: number;
  /** Where temporary copies live; default the OS temp dir. */
  workDir?: string;
  /**
   * The running release's slug (host path): asks for a hot upgrade. The build
   * then also makes appups, a relup and an upgrade package (BuildResult.upgrade),
   * or fails with reason "hot" saying why none can be made.
   */
  previousSlug?: string;
  /** Allow `file://` git URLs in `.buildpacks` (tests); off by default, as they read the host's disk. */
  allowFileGitUrls?: boolean;
}

export interface Slug {
  path: string;
  sha256: string;
  bytes: number;
}

export interface BuildResult {
  slug: Slug;
  /** Procfile entries over the buildpacks' default_process_types. */
  processTypes: Record<string, string>;
  /** The release phase, app.json's formation, health checks and cron entries (see lib/app-manifest.ts). */
  manifest: AppManifest;
  /** The buildpacks that ran, as given (URL, path, or "builtin:elixir"). */
  buildpacks: string[];
  /** Only when previousSlug was given. */
  upgrade?: UpgradePackage;
}

/** What a hot upgrade installs on running nodes: only what changed, for :release_handler. */
export interface UpgradePackage {
  /** Host path of the tar.gz (`<slugDir>/<new slug sha>.upgrade.tar.gz`). */
  path: string;
  /** The release name (`bin/<name>`). */
  name: string;
  /** The running release's version and the new one (from mix.exs). */
  from: string;
  to: string;
}

export type BuildFailure =
  | "setup"
  | "buildpack"
  | "detect"
  | "compile"
  | "release"
  | "slug_too_large"
  | "slug"
  | "timeout"
  | "cancelled"
  | "hot"
  | "app_json";

/** A build that did not produce a slug. `tail` holds the last lines of output. */
export class BuildError extends Error {
  readonly reason: BuildFailure;
  readonly tail: string[];

  constructor(reason: BuildFailure, message: string, tail: string[] = []) {
    super(tail.length > 0 ? `${message}\n${tail.join("\n")}` : message);
    this.name = "BuildError";
    this.reason = reason;
    this.tail = tail;
  }
}
