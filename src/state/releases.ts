import type { Database } from "bun:sqlite";
import { type AppManifest, emptyManifest } from "../lib/app-manifest.ts";
import { type Clock, isoNow } from "./clock.ts";
import type { Cipher } from "./crypto.ts";

/**
 * `recorded`: a config-only release with no slug yet, nothing to run.
 * The deploy pipeline moves releases with a slug through the other states.
 */
export type ReleaseStatus = "recorded" | "pending" | "succeeded" | "failed";

export interface Release {
  version: number;
  summary: string;
  /** The slug's sha256 (slugs/<app>/<sha256>.tar.gz), or null for a config-only release before any build. */
  slug: string | null;
  processTypes: Record<string, string>;
  buildpacks: string[];
  gitSha: string | null;
  status: ReleaseStatus;
  createdBy: string | null;
  createdAt: string;
  /** A hot upgrade: the release whose running replicas it was installed into. */
  hotFrom: number | null;
  /** Release phase, app.json formation, health checks, cron (empty for releases made before app.json was read). */
  manifest: AppManifest;
}

interface ReleaseRow {
  version: number;
  summary: string;
  slug: string | null;
  process_types: string;
  buildpacks: string;
  git_sha: string | null;
  status: ReleaseStatus;
  created_by: string | null;
  created_at: string;
  hot_from: number | null;
  manifest: string | null;
}

const toRelease = (r: ReleaseRow): Release => ({
  version: r.version,
  summary: r.summary,
  slug: r.slug,
  processTypes: JSON.parse(r.process_types) as Record<string, string>,
  buildpacks: JSON.parse(r.buildpacks) as string[],
  gitSha: r.git_sha,
  status: r.status,
  createdBy: r.created_by,
  createdAt: r.created_at,
  hotFrom: r.hot_from,
  manifest: r.manifest ? { ...emptyManifest(), ...(JSON.parse(r.manifest) as Partial<AppManifest>) } : emptyManifest(),
});

const SELECT = `SELECT r.version, r.summary, r.slug, r.process_types, r.buildpacks, r.git_sha, r.status, u.email AS created_by, r.created_at, r.hot_from, r.manifest
                  FROM releases r LEFT JOIN users u ON u.id = r.created_by`;

/** Releases are immutable: version n+1 = slug + config snapshot + summary. Only status moves. */
export class Releases {
  constructor(private readonly db: Database, private readonly clock: Clock, private readonly cipher: Cipher) {}

  list(appId: number, limit = 100): Release[] {
    return (this.db.query(`${SELECT} WHERE r.app_id = ? ORDER BY r.version DESC LIMIT ?`).all(appId, limit) as ReleaseRow[]).map(
      toRelease,
    );
  }

  get(appId: number, version: number): Release | null {
    const row = this.db.query(`${SELECT} WHERE r.app_id = ? AND r.version = ?`).get(appId, version) as ReleaseRow | null;
    return row ? toRelease(row) : null;
  }

  /** The latest release that has a slug: its code is what a config change carries forward. */
  latestWithSlug(appId: number): Release | null {
    const row = this.db
      .query(`${SELECT} WHERE r.app_id = ? AND r.slug IS NOT NULL ORDER BY r.version DESC LIMIT 1`)
      .get(appId) as ReleaseRow | null;
    return row ? toRelease(row) : null;
  }

  /** The release that is serving: the latest one that deployed successfully. */
  current(appId: number): Release | null {
    const row = this.db
      .query(`${SELECT} WHERE r.app_id = ? AND r.status = 'succeeded' ORDER BY r.version DESC LIMIT 1`)
      .get(appId) as ReleaseRow | null;
    return row ? toRelease(row) : null;
  }

  /**
   * The versions whose replicas run this release's code: itself and, through
   * hot upgrades, the releases it was installed into (their containers keep
   * their old label).
   */
  lineage(appId: number, version: number): Set<number> {
    const versions = new Set<number>();
    for (let v: number | null = version; v !== null && !versions.has(v); v = this.get(appId, v)?.hotFrom ?? null) versions.add(v);
    return versions;
  }

  setStatus(appId: number, version: number, status: ReleaseStatus): void {
    this.db.query("UPDATE releases SET status = ? WHERE app_id = ? AND version = ?").run(status, appId, version);
  }

  /** Appends version n+1. Call inside the transaction that made the change it records. */
  append(input: {
    appId: number;
    appName: string;
    summary: string;
    config: Record<string, string>;
    slug: string | null;
    processTypes?: Record<string, string>;
    buildpacks?: string[];
    gitSha: string | null;
    status: ReleaseStatus;
    createdBy: number | null;
    hotFrom?: number;
    manifest?: AppManifest;
  }): Release {
    const { n } = this.db.query("SELECT coalesce(max(version), 0) AS n FROM releases WHERE app_id = ?").get(input.appId) as {
      n: number;
    };
    const version = n + 1;
    const sealed = this.cipher.encrypt(JSON.stringify(input.config), `release:${input.appName}:${version}`);
    this.db
      .query(
        `INSERT INTO releases (app_id, version, summary, config, slug, process_types, buildpacks, git_sha, status, created_by, created_at, hot_from, manifest)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        input.appId,
        version,
        input.summary,
        sealed,
        input.slug,
        JSON.stringify(input.processTypes ?? {}),
        JSON.stringify(input.buildpacks ?? []),
        input.gitSha,
        input.status,
        input.createdBy,
        isoNow(this.clock),
        input.hotFrom ?? null,
        input.manifest ? JSON.stringify(input.manifest) : null,
      );
    return this.get(input.appId, version)!;
  }

  /** The config snapshot a release was made with. */
  config(appId: number, appName: string, version: number): Record<string, string> | null {
    const row = this.db.query("SELECT config FROM releases WHERE app_id = ? AND version = ?").get(appId, version) as {
      config: Uint8Array;
    } | null;
    return row ? (JSON.parse(this.cipher.decrypt(row.config, `release:${appName}:${version}`)) as Record<string, string>) : null;
  }
}
