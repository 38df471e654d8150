import type { Database } from "bun:sqlite";
import { type Clock, isoNow } from "./clock.ts";

export interface ActivityEntry {
  id: number;
  action: string;
  detail: string;
  user: string | null;
  createdAt: string;
}

/** Who did what to an app, and when. Details never contain config values. */
export class Activity {
  constructor(private readonly db: Database, private readonly clock: Clock) {}

  record(appId: number, userId: number | null, action: string, detail: string): void {
    this.db
      .query("INSERT INTO activity (app_id, user_id, action, detail, created_at) VALUES (?, ?, ?, ?, ?)")
      .run(appId, userId, action, detail, isoNow(this.clock));
  }

  list(appId: number, limit = 100): ActivityEntry[] {
    const rows = this.db
      .query(
        `SELECT a.id, a.action, a.detail, u.email AS user, a.created_at
           FROM activity a LEFT JOIN users u ON u.id = a.user_id
          WHERE a.app_id = ? ORDER BY a.id DESC LIMIT ?`,
      )
      .all(appId, limit) as { id: number; action: string; detail: string; user: string | null; created_at: string }[];
    return rows.map((r) => ({ id: r.id, action: r.action, detail: r.detail, user: r.user, createdAt: r.created_at }));
  }
}
