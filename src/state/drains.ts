import type { Database } from "bun:sqlite";
import { Secret } from "../lib/secret.ts";
import { type Clock, isoNow } from "./clock.ts";
import type { Cipher } from "./crypto.ts";

/** A stored log drain; the URL may hold credentials, so it is encrypted at rest and a Secret here. */
export interface DrainRecord {
  id: number;
  app: string;
  url: Secret;
  createdAt: string;
}

interface DrainRow {
  id: number;
  app: string;
  url: Uint8Array;
  created_at: string;
}

const SELECT = "SELECT d.id, a.name AS app, d.url, d.created_at FROM drains d JOIN apps a ON a.id = d.app_id";

/** Log drain URLs, AES-256-GCM encrypted and bound to their app. Rows go with the app (ON DELETE CASCADE). */
export class Drains {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly cipher: Cipher,
  ) {}

  all(): DrainRecord[] {
    return (this.db.query(`${SELECT} ORDER BY d.id`).all() as DrainRow[]).map((r) => this.#toRecord(r));
  }

  list(app: string): DrainRecord[] {
    return (this.db.query(`${SELECT} WHERE a.name = ? ORDER BY d.id`).all(app) as DrainRow[]).map((r) => this.#toRecord(r));
  }

  add(app: string, url: Secret): DrainRecord {
    const row = this.db
      .query("INSERT INTO drains (app_id, url, created_at) SELECT id, ?, ? FROM apps WHERE name = ? RETURNING id")
      .get(this.cipher.encrypt(url.reveal(), aad(app)), isoNow(this.clock), app) as { id: number } | null;
    if (!row) throw new Error(`no app ${app}`);
    return this.#toRecord(this.db.query(`${SELECT} WHERE d.id = ?`).get(row.id) as DrainRow);
  }

  /** False when the app has no drain with that id. */
  remove(app: string, id: number): boolean {
    return this.db.query("DELETE FROM drains WHERE id = ? AND app_id = (SELECT id FROM apps WHERE name = ?)").run(id, app).changes > 0;
  }

  #toRecord(row: DrainRow): DrainRecord {
    return { id: row.id, app: row.app, url: new Secret(this.cipher.decrypt(row.url, aad(row.app))), createdAt: row.created_at };
  }
}

const aad = (app: string) => `drain:${app}`;
