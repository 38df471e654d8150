import type { Database } from "bun:sqlite";
import { notFound } from "../lib/errors.ts";
import type { Activity } from "./activity.ts";
import type { App } from "./apps.ts";
import type { Cipher } from "./crypto.ts";
import type { Release, Releases } from "./releases.ts";

export interface ConfigChange {
  set?: Record<string, string>;
  unset?: string[];
}

/**
 * Config vars, encrypted one value at a time (AES-256-GCM, bound to app and key).
 * Every change writes the vars, a new release holding the full snapshot, and an
 * activity entry in one transaction: all of it is there after a crash, or none.
 */
export class Config {
  constructor(
    private readonly db: Database,
    private readonly cipher: Cipher,
    private readonly releases: Releases,
    private readonly activity: Activity,
  ) {}

  get(app: App): Record<string, string> {
    const rows = this.db.query("SELECT key, value FROM config_vars WHERE app_id = ? ORDER BY key").all(app.id) as {
      key: string;
      value: Uint8Array;
    }[];
    const out: Record<string, string> = {};
    for (const row of rows) out[row.key] = this.cipher.decrypt(row.value, aad(app, row.key));
    return out;
  }

  /**
   * Rollback: the app's config becomes the target release's snapshot, and a new
   * release runs the target's code with it (as Heroku's rollback does).
   */
  restore(app: App, target: Release, userId: number | null): Release {
    return this.db.transaction(() => {
      const snapshot = this.releases.config(app.id, app.name, target.version) ?? {};
      this.db.query("DELETE FROM config_vars WHERE app_id = ?").run(app.id);
      const insert = this.db.query("INSERT INTO config_vars (app_id, key, value) VALUES (?, ?, ?)");
      for (const [key, value] of Object.entries(snapshot)) insert.run(app.id, key, this.cipher.encrypt(value, aad(app, key)));
      const release = this.releases.append({
        appId: app.id,
        appName: app.name,
        summary: `Rollback to v${target.version}`,
        config: snapshot,
        slug: target.slug,
        processTypes: target.processTypes,
        manifest: target.manifest,
        buildpacks: target.buildpacks,
        gitSha: target.gitSha,
        status: "pending",
        createdBy: userId,
      });
      this.activity.record(app.id, userId, "rollback", `Rolled back to v${target.version} (v${release.version})`);
      return release;
    })();
  }

  /** Applies the change and records release n+1. Unsetting a key that is not set changes nothing and throws. */
  change(app: App, change: ConfigChange, userId: number | null, summary?: string): Release {
    const set = change.set ?? {};
    const unset = change.unset ?? [];
    return this.db.transaction(() => {
      const current = this.get(app);
      const missing = unset.filter((key) => !(key in current));
      if (missing.length > 0) {
        throw notFound(`config var${missing.length > 1 ? "s" : ""} ${missing.join(", ")} not set on ${app.name}`, "`beamstalk config` lists them");
      }
      const upsert = this.db.query(
        "INSERT INTO config_vars (app_id, key, value) VALUES (?, ?, ?) ON CONFLICT (app_id, key) DO UPDATE SET value = excluded.value",
      );
      for (const [key, value] of Object.entries(set)) {
        upsert.run(app.id, key, this.cipher.encrypt(value, aad(app, key)));
        current[key] = value;
      }
      const remove = this.db.query("DELETE FROM config_vars WHERE app_id = ? AND key = ?");
      for (const key of unset) {
        remove.run(app.id, key);
        delete current[key];
      }
      const text = summary ?? describe(Object.keys(set), unset);
      // The new release carries the serving release's code forward; it is `pending` until the
      // deploy pipeline has rolled it out, or `recorded` when there is no code to run yet.
      const base = this.releases.current(app.id);
      const release = this.releases.append({
        appId: app.id,
        appName: app.name,
        summary: text,
        config: current,
        slug: base?.slug ?? null,
        processTypes: base?.processTypes ?? {},
        ...(base ? { manifest: base.manifest } : {}),
        buildpacks: base?.buildpacks ?? [],
        gitSha: base?.gitSha ?? null,
        status: base ? "pending" : "recorded",
        createdBy: userId,
      });
      this.activity.record(app.id, userId, "config.change", `${text} (v${release.version})`);
      return release;
    })();
  }
}

const aad = (app: App, key: string) => `config:${app.name}:${key}`;

function describe(set: string[], unset: string[]): string {
  const part = (verb: string, keys: string[]) => `${verb} ${keys.join(", ")} config var${keys.length > 1 ? "s" : ""}`;
  const parts = [];
  if (set.length) parts.push(part("Set", set));
  if (unset.length) parts.push(part("Unset", unset));
  return parts.join("; ") || "No config change";
}
