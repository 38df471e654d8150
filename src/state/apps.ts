import type { Database } from "bun:sqlite";
import { randomBytes } from "node:crypto";
import { Secret } from "../lib/secret.ts";
import type { Activity } from "./activity.ts";
import { type Clock, isoNow } from "./clock.ts";
import type { Cipher } from "./crypto.ts";
import type { User } from "./users.ts";

export type Role = "owner" | "admin" | "collaborator" | "viewer";

export interface App {
  id: number;
  name: string;
  ownerId: number;
  owner: string;
  createdAt: string;
}

interface AppRow {
  id: number;
  name: string;
  owner_id: number;
  owner: string;
  created_at: string;
}

const SELECT_APP = "SELECT a.id, a.name, a.owner_id, u.email AS owner, a.created_at FROM apps a JOIN users u ON u.id = a.owner_id";

const toApp = (row: AppRow): App => ({
  id: row.id,
  name: row.name,
  ownerId: row.owner_id,
  owner: row.owner,
  createdAt: row.created_at,
});

export class Apps {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly cipher: Cipher,
    private readonly activity: Activity,
  ) {}

  /** Creates the app with its per-app secrets (SECRET_KEY_BASE, Erlang cookie), generated once. */
  create(name: string, owner: User): App {
    return this.db.transaction(() => {
      const secretKeyBase = randomBytes(48).toString("base64url");
      const cookie = randomBytes(32).toString("base64url");
      const row = this.db
        .query("INSERT INTO apps (name, owner_id, secret_key_base, cookie, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id")
        .get(
          name,
          owner.id,
          this.cipher.encrypt(secretKeyBase, `app:${name}:secret_key_base`),
          this.cipher.encrypt(cookie, `app:${name}:cookie`),
          isoNow(this.clock),
        ) as { id: number };
      this.activity.record(row.id, owner.id, "app.create", `Created app ${name}`);
      return this.byName(name)!;
    })();
  }

  count(): number {
    return (this.db.query("SELECT count(*) AS n FROM apps").get() as { n: number }).n;
  }

  exists(name: string): boolean {
    return this.db.query("SELECT 1 FROM apps WHERE name = ?").get(name) !== null;
  }

  /** Every app on this server, by name (the daemon's own bookkeeping: cron, the boot's reconciliation; not a user's view). */
  all(): App[] {
    return (this.db.query(`${SELECT_APP} ORDER BY a.name`).all() as AppRow[]).map(toApp);
  }

  byName(name: string): App | null {
    const row = this.db.query(`${SELECT_APP} WHERE a.name = ?`).get(name) as AppRow | null;
    return row ? toApp(row) : null;
  }

  /** Names of the apps the user owns. */
  ownedBy(userId: number): string[] {
    return (this.db.query("SELECT name FROM apps WHERE owner_id = ? ORDER BY name").all(userId) as { name: string }[]).map((r) => r.name);
  }

  /** The apps a user can see: all of them for an admin, else owned and shared ones. */
  listFor(user: User): (App & { role: Role })[] {
    const rows = this.db
      .query(
        `${SELECT_APP} LEFT JOIN app_access x ON x.app_id = a.id AND x.user_id = ?1
          WHERE ?2 = 1 OR a.owner_id = ?1 OR x.user_id IS NOT NULL ORDER BY a.name`,
      )
      .all(user.id, user.isAdmin ? 1 : 0) as AppRow[];
    return rows.map((row) => {
      const app = toApp(row);
      return { ...app, role: this.roleOf(app, user)! };
    });
  }

  /** The caller's role on the app, or null when the app must look as if it did not exist. */
  roleOf(app: App, user: User): Role | null {
    if (app.ownerId === user.id) return "owner";
    if (user.isAdmin) return "admin";
    const row = this.db
      .query("SELECT role FROM app_access WHERE app_id = ? AND user_id = ?")
      .get(app.id, user.id) as { role: Role } | null;
    return row?.role ?? null;
  }

  secrets(app: App): { secretKeyBase: Secret; cookie: Secret } {
    const row = this.db.query("SELECT secret_key_base, cookie FROM apps WHERE id = ?").get(app.id) as {
      secret_key_base: Uint8Array;
      cookie: Uint8Array;
    };
    return {
      secretKeyBase: new Secret(this.cipher.decrypt(row.secret_key_base, `app:${app.name}:secret_key_base`)),
      cookie: new Secret(this.cipher.decrypt(row.cookie, `app:${app.name}:cookie`)),
    };
  }

  /** Deletes the app and, by cascade, its access, config, releases and activity. */
  destroy(app: App): void {
    this.db.query("DELETE FROM apps WHERE id = ?").run(app.id);
  }
}
