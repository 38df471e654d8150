import type { Database } from "bun:sqlite";

export interface ProcessFormation {
  count: number;
  size: number;
}

export const SIZE_MIN = 0.5;
export const SIZE_MAX = 16;

/**
 * How many replicas of each process type an app wants, and their size. A
 * process type with no row gets Heroku's default: web 1, everything else 0, size 1.
 */
export class Formation {
  constructor(private readonly db: Database) {}

  /** The formation for the given process types (a release's), defaults filled in. */
  for(appId: number, processTypes: string[]): Record<string, ProcessFormation> {
    const rows = this.db.query("SELECT process, count, size FROM formation WHERE app_id = ?").all(appId) as {
      process: string;
      count: number;
      size: number;
    }[];
    const stored = new Map(rows.map((r) => [r.process, { count: r.count, size: r.size }]));
    return Object.fromEntries(processTypes.map((type) => [type, stored.get(type) ?? { count: type === "web" ? 1 : 0, size: 1 }]));
  }

  /** The process types with a stored formation (scaled, or set from app.json). */
  stored(appId: number): Set<string> {
    const rows = this.db.query("SELECT process FROM formation WHERE app_id = ?").all(appId) as { process: string }[];
    return new Set(rows.map((r) => r.process));
  }

  set(appId: number, process: string, value: ProcessFormation): void {
    this.db
      .query(
        `INSERT INTO formation (app_id, process, count, size) VALUES (?, ?, ?, ?)
         ON CONFLICT (app_id, process) DO UPDATE SET count = excluded.count, size = excluded.size`,
      )
      .run(appId, process, value.count, value.size);
  }
}
