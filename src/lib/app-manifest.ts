/**
 * What a release carries from the app's own files besides its process types:
 * the release phase (Procfile `release:`, app.json `scripts.dokku.predeploy`),
 * the post-deploy script, and app.json's formation, health checks and cron
 * entries. Plain data: the builder reads it (builder/app-json.ts), the state
 * keeps it with the release, the deploy pipeline and the cron scheduler act on it.
 */
export interface AppManifest {
  /** Run in order, each as a one-off job of the new release, before any replica starts. */
  releasePhase: ReleaseCommand[];
  /** app.json `scripts.dokku.postdeploy`: run once the release serves; it cannot undo it. */
  postdeploy: string | null;
  /** The first deploy's replicas and size per process type (later ps:scale wins). */
  formation: Record<string, { count?: number; size?: number }>;
  /** Per process type; a web type's checks replace the default health check. */
  healthchecks: Record<string, HealthCheckSpec[]>;
  cron: CronEntry[];
}

export interface ReleaseCommand {
  /** Where it was declared: "Procfile release" or "app.json scripts.dokku.predeploy". */
  source: string;
  /** Run by bash in the release's container, as a Procfile command is. */
  command: string;
}

/** Dokku's startup check: after initialDelay, up to `attempts` tries of GET path, `wait` apart. */
export interface HealthCheckSpec {
  name: string;
  path: string;
  /** Seconds one try may take. */
  timeout: number;
  attempts: number;
  /** Seconds before the first try. */
  initialDelay: number;
  /** Seconds between tries. */
  wait: number;
  /** When set, the body must contain it. */
  content?: string;
}

export interface CronEntry {
  /** Stable: derived from schedule and command, so it survives redeploys that keep the entry. */
  id: string;
  schedule: string;
  command: string;
}

export function emptyManifest(): AppManifest {
  return { releasePhase: [], postdeploy: null, formation: {}, healthchecks: {}, cron: [] };
}
