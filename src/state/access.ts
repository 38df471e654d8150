import type { Database } from "bun:sqlite";
import type { Activity } from "./activity.ts";
import { type Clock, isoNow } from "./clock.ts";

export type SharedRole = "collaborator" | "viewer";

export interface AccessEntry {
  email: string;
  role: "owner" | SharedRole;
  since: string;
}

export class Access {
  constructor(private readonly db: Database, private readonly clock: Clock, private readonly activity: Activity) {}

  /** The owner first, then everyone the app is shared with. */
  list(appId: number): AccessEntry[] {
    const owner = this.db
      .query("SELECT u.email, a.created_at FROM apps a JOIN users u ON u.id = a.owner_id WHERE a.id = ?")
      .get(appId) as { email: string; created_at: string };
    const shared = this.db
      .query(
        `SELECT u.email, x.role, x.created_at FROM app_access x JOIN users u ON u.id = x.user_id
          WHERE x.app_id = ? ORDER BY u.email`,
      )
      .all(appId) as { email: string; role: SharedRole; created_at: string }[];
    return [
      { email: owner.email, role: "owner", since: owner.created_at },
      ...shared.map((r) => ({ email: r.email, role: r.role, since: r.created_at })),
    ];
  }

  /** Grants or changes a role. */
  grant(appId: number, target: { id: number; email: string }, role: SharedRole, by: number): void {
    this.db.transaction(() => {
      this.db
        .query(
          `INSERT INTO app_access (app_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (app_id, user_id) DO UPDATE SET role = excluded.role`,
        )
        .run(appId, target.id, role, isoNow(this.clock));
      this.activity.record(appId, by, "access.add", `Gave ${target.email} ${role} access`);
    })();
  }

  /** Returns false when the user had no shared access. */
  revoke(appId: number, target: { id: number; email: string }, by: number): boolean {
    return this.db.transaction(() => {
      const changes = this.db.query("DELETE FROM app_access WHERE app_id = ? AND user_id = ?").run(appId, target.id).changes;
      if (changes === 1) this.activity.record(appId, by, "access.remove", `Removed access of ${target.email}`);
      return changes === 1;
    })();
  }
}
