import type { Database } from "bun:sqlite";
import { Secret } from "../lib/secret.ts";
import type { App } from "./apps.ts";
import { type Clock, isoNow } from "./clock.ts";
import type { Cipher } from "./crypto.ts";

/** creating → available ⇄ scaling | restoring; failed when a step broke (the error says which). */
export type DatabaseState = "creating" | "available" | "scaling" | "restoring" | "stopped" | "failed";

export type ReplicaState = "creating" | "available" | "failed";

/** An app's managed PostgreSQL server (one per app). The password is a Secret, encrypted at rest. */
export interface DatabaseRecord {
  appId: number;
  app: string;
  version: number;
  size: number;
  password: Secret;
  state: DatabaseState;
  error: string | null;
  containerId: string | null;
  /** Host directory holding the server's data (and its pg_hba.conf), or on another host the data volume's name. */
  volume: string;
  /** The Swarm node it is pinned to when that is not this host (pg:create --node); null: this host. */
  node: string | null;
  /** Its read replica's state; null: it has none. */
  replica: ReplicaState | null;
  createdAt: string;
  updatedAt: string;
}

interface Row {
  app_id: number;
  app: string;
  version: number;
  size: number;
  password: Uint8Array;
  state: DatabaseState;
  error: string | null;
  container_id: string | null;
  volume: string;
  node: string | null;
  replica: ReplicaState | null;
  created_at: string;
  updated_at: string;
}

const SELECT = "SELECT d.*, a.name AS app FROM databases d JOIN apps a ON a.id = d.app_id";

export class Databases {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly cipher: Cipher,
  ) {}

  get(app: App): DatabaseRecord | null {
    const row = this.db.query(`${SELECT} WHERE d.app_id = ?`).get(app.id) as Row | null;
    return row ? this.#toRecord(row) : null;
  }

  all(): DatabaseRecord[] {
    return (this.db.query(`${SELECT} ORDER BY a.name`).all() as Row[]).map((r) => this.#toRecord(r));
  }

  /** Records a new server in state `creating`; throws on a second one for the app (UNIQUE app_id). */
  create(app: App, fields: { version: number; size: number; password: Secret; volume: string; node?: string | null }): DatabaseRecord {
    const now = isoNow(this.clock);
    this.db
      .query(
        `INSERT INTO databases (app_id, version, size, password, state, volume, node, created_at, updated_at)
         VALUES (?, ?, ?, ?, 'creating', ?, ?, ?, ?)`,
      )
      .run(app.id, fields.version, fields.size, this.cipher.encrypt(fields.password.reveal(), aad(app)), fields.volume, fields.node ?? null, now, now);
    return this.get(app)!;
  }

  update(app: App, fields: { state?: DatabaseState; size?: number; containerId?: string | null; error?: string | null }): DatabaseRecord {
    const current = this.get(app);
    if (!current) throw new Error(`no database for ${app.name}`);
    this.db
      .query("UPDATE databases SET state = ?, size = ?, container_id = ?, error = ?, updated_at = ? WHERE app_id = ?")
      .run(
        fields.state ?? current.state,
        fields.size ?? current.size,
        fields.containerId === undefined ? current.containerId : fields.containerId,
        fields.error === undefined ? current.error : fields.error,
        isoNow(this.clock),
        app.id,
      );
    return this.get(app)!;
  }

  setReplica(app: App, state: ReplicaState | null): void {
    this.db.query("UPDATE databases SET replica = ?, updated_at = ? WHERE app_id = ?").run(state, isoNow(this.clock), app.id);
  }

  remove(app: App): boolean {
    return this.db.query("DELETE FROM databases WHERE app_id = ?").run(app.id).changes > 0;
  }

  #toRecord(row: Row): DatabaseRecord {
    return {
      appId: row.app_id,
      app: row.app,
      version: row.version,
      size: row.size,
      password: new Secret(this.cipher.decrypt(row.password, `database:${row.app}:password`)),
      state: row.state,
      error: row.error,
      containerId: row.container_id,
      volume: row.volume,
      node: row.node,
      replica: row.replica ?? null,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }
}

const aad = (app: App) => `database:${app.name}:password`;
