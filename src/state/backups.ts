import type { Database } from "bun:sqlite";
import type { App } from "./apps.ts";
import { type Clock, isoNow } from "./clock.ts";

export type BackupKind = "daily" | "manual" | "final";
export type BackupStatus = "running" | "succeeded" | "failed";

/** One pg_dump of an app's database: a file under backups/<app>/, its size and sha256 once it succeeded. */
export interface BackupRecord {
  id: number;
  appId: number | null;
  app: string;
  file: string;
  kind: BackupKind;
  status: BackupStatus;
  size: number | null;
  sha256: string | null;
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
}

interface Row {
  id: number;
  app_id: number | null;
  app_name: string;
  file: string;
  kind: BackupKind;
  status: BackupStatus;
  size: number | null;
  sha256: string | null;
  error: string | null;
  created_at: string;
  finished_at: string | null;
}

const toRecord = (r: Row): BackupRecord => ({
  id: r.id,
  appId: r.app_id,
  app: r.app_name,
  file: r.file,
  kind: r.kind,
  status: r.status,
  size: r.size,
  sha256: r.sha256,
  error: r.error,
  createdAt: r.created_at,
  finishedAt: r.finished_at,
});

/**
 * Backups are found by app id, never by name alone: a final backup outlives its
 * database, and a later app of the same name (another owner) must not see it.
 */
export class Backups {
  constructor(private readonly db: Database, private readonly clock: Clock) {}

  /** Starts a record in state `running`; `file` is given the id (`<dir>/<id>.dump`). */
  start(app: App, kind: BackupKind, fileFor: (id: number) => string): BackupRecord {
    return this.db.transaction(() => {
      const { id } = this.db
        .query("INSERT INTO backups (app_id, app_name, file, kind, status, created_at) VALUES (?, ?, '', ?, 'running', ?) RETURNING id")
        .get(app.id, app.name, kind, isoNow(this.clock)) as { id: number };
      this.db.query("UPDATE backups SET file = ? WHERE id = ?").run(fileFor(id), id);
      return this.get(app, id)!;
    })();
  }

  succeed(id: number, fields: { size: number; sha256: string }): void {
    this.db
      .query("UPDATE backups SET status = 'succeeded', size = ?, sha256 = ?, error = NULL, finished_at = ? WHERE id = ?")
      .run(fields.size, fields.sha256, isoNow(this.clock), id);
  }

  fail(id: number, error: string): void {
    this.db.query("UPDATE backups SET status = 'failed', error = ?, finished_at = ? WHERE id = ?").run(error.slice(0, 2000), isoNow(this.clock), id);
  }

  get(app: App, id: number): BackupRecord | null {
    const row = this.db.query("SELECT * FROM backups WHERE id = ? AND app_id = ?").get(id, app.id) as Row | null;
    return row ? toRecord(row) : null;
  }

  /** Newest first. */
  list(app: App): BackupRecord[] {
    return (this.db.query("SELECT * FROM backups WHERE app_id = ? ORDER BY id DESC").all(app.id) as Row[]).map(toRecord);
  }

  /** Records left `running` by a daemon that stopped mid-backup. */
  running(): BackupRecord[] {
    return (this.db.query("SELECT * FROM backups WHERE status = 'running' ORDER BY id").all() as Row[]).map(toRecord);
  }

  remove(id: number): void {
    this.db.query("DELETE FROM backups WHERE id = ?").run(id);
  }

  now(): Date {
    return this.clock();
  }
}
