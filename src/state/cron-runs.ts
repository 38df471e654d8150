import type { Database } from "bun:sqlite";
import { type Clock, isoNow } from "./clock.ts";

export type CronRunStatus = "running" | "succeeded" | "failed" | "skipped";

export interface CronRun {
  id: number;
  entry: string;
  release: number;
  trigger: "schedule" | "manual";
  status: CronRunStatus;
  exitCode: number | null;
  /** Why it failed or was skipped, in words (never the job's output). */
  detail: string | null;
  startedAt: string;
  finishedAt: string | null;
}

interface Row {
  id: number;
  entry: string;
  release: number;
  trigger: "schedule" | "manual";
  status: CronRunStatus;
  exit_code: number | null;
  detail: string | null;
  started_at: string;
  finished_at: string | null;
}

const toRun = (r: Row): CronRun => ({
  id: r.id,
  entry: r.entry,
  release: r.release,
  trigger: r.trigger,
  status: r.status,
  exitCode: r.exit_code,
  detail: r.detail,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

const COLUMNS = "id, entry, release, trigger, status, exit_code, detail, started_at, finished_at";
/** Runs kept per entry; older ones are dropped as new ones start. */
const KEEP = 50;

/** Each cron entry's runs (its id is app.json's entry id), kept across daemon restarts. */
export class CronRuns {
  constructor(private readonly db: Database, private readonly clock: Clock) {}

  start(appId: number, entry: string, release: number, trigger: CronRun["trigger"]): CronRun {
    return this.#insert(appId, entry, release, trigger, "running", null);
  }

  /** A due run that did not start because the previous one still runs. */
  skipped(appId: number, entry: string, release: number, trigger: CronRun["trigger"], detail: string): CronRun {
    return this.#insert(appId, entry, release, trigger, "skipped", detail);
  }

  finish(id: number, result: { status: "succeeded" | "failed"; exitCode: number | null; detail?: string }): void {
    this.db
      .query("UPDATE cron_runs SET status = ?, exit_code = ?, detail = ?, finished_at = ? WHERE id = ?")
      .run(result.status, result.exitCode, result.detail ?? null, isoNow(this.clock), id);
  }

  /** The latest run of each entry that started (skips left out), and how many were skipped since it started. */
  latest(appId: number): Map<string, { run: CronRun; skippedSince: number }> {
    const rows = this.db
      .query(
        `SELECT ${COLUMNS} FROM cron_runs WHERE id IN (
           SELECT max(id) FROM cron_runs WHERE app_id = ? AND status != 'skipped' GROUP BY entry)`,
      )
      .all(appId) as Row[];
    const out = new Map<string, { run: CronRun; skippedSince: number }>();
    for (const row of rows) {
      const { n } = this.db
        .query("SELECT count(*) AS n FROM cron_runs WHERE app_id = ? AND entry = ? AND status = 'skipped' AND id > ?")
        .get(appId, row.entry, row.id) as { n: number };
      out.set(row.entry, { run: toRun(row), skippedSince: n });
    }
    return out;
  }

  /** The status of the entry's last finished run before run `id` (skips left out), or null for none. */
  previousStatus(appId: number, entry: string, id: number): CronRunStatus | null {
    const row = this.db
      .query("SELECT status FROM cron_runs WHERE app_id = ? AND entry = ? AND id < ? AND status IN ('succeeded', 'failed') ORDER BY id DESC LIMIT 1")
      .get(appId, entry, id) as { status: CronRunStatus } | null;
    return row?.status ?? null;
  }

  /** An entry's runs, newest first. */
  list(appId: number, entry: string, limit = 20): CronRun[] {
    return (this.db.query(`SELECT ${COLUMNS} FROM cron_runs WHERE app_id = ? AND entry = ? ORDER BY id DESC LIMIT ?`).all(appId, entry, limit) as Row[]).map(toRun);
  }

  /** At boot: a run the daemon was watching when it stopped did not finish. Returns how many. */
  interrupted(detail: string): number {
    return this.db
      .query("UPDATE cron_runs SET status = 'failed', detail = ?, finished_at = ? WHERE status = 'running'")
      .run(detail, isoNow(this.clock)).changes;
  }

  #insert(appId: number, entry: string, release: number, trigger: CronRun["trigger"], status: CronRunStatus, detail: string | null): CronRun {
    return this.db.transaction(() => {
      const now = isoNow(this.clock);
      const row = this.db
        .query(`INSERT INTO cron_runs (app_id, entry, release, trigger, status, detail, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${COLUMNS}`)
        .get(appId, entry, release, trigger, status, detail, now, status === "skipped" ? now : null) as Row;
      this.db
        .query("DELETE FROM cron_runs WHERE app_id = ? AND entry = ? AND id NOT IN (SELECT id FROM cron_runs WHERE app_id = ? AND entry = ? ORDER BY id DESC LIMIT ?)")
        .run(appId, entry, appId, entry, KEEP);
      return toRun(row);
    })();
  }
}
