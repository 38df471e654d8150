import type { AppManifest } from "../lib/app-manifest.ts";
import type { App, Release, State, User } from "../state/index.ts";

export interface BuiltSlug {
  slug: { sha256: string };
  processTypes: Record<string, string>;
  buildpacks: string[];
  manifest?: AppManifest;
}

/** Records a build as release n+1, pending until it serves, with its line in the app's activity. */
export function recordBuild(
  state: State,
  input: { app: App; user: User | null; sha: string; built: BuiltSlug; config: Record<string, string> },
  what: { summary: string; activity: (version: number) => string; hotFrom?: number },
): Release {
  const { app, user, sha, built, config } = input;
  return state.transaction(() => {
    const rel = state.releases.append({
      appId: app.id,
      appName: app.name,
      summary: what.summary,
      config,
      slug: built.slug.sha256,
      processTypes: built.processTypes,
      buildpacks: built.buildpacks,
      ...(built.manifest ? { manifest: built.manifest } : {}),
      gitSha: sha,
      status: "pending",
      createdBy: user?.id ?? null,
      ...(what.hotFrom !== undefined ? { hotFrom: what.hotFrom } : {}),
    });
    state.activity.record(app.id, user?.id ?? null, "deploy", what.activity(rel.version));
    return rel;
  });
}
