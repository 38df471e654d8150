import type { BackupRecord } from "../state/backups.ts";

export interface Retention {
  /** Daily backups kept (newest first). */
  daily: number;
  /** Manual backups kept. */
  manual: number;
  /** Days a final backup (taken by pg:destroy) is kept. */
  finalDays: number;
  /** Failed backup records kept (for the report). */
  failed: number;
}

export const DEFAULT_RETENTION: Retention = { daily: 7, manual: 10, finalDays: 7, failed: 5 };

/** Which backups retention removes now; `backups` newest first. Running ones are never touched. */
export function pruneBackups(backups: BackupRecord[], retention: Retention, now: Date): BackupRecord[] {
  const out: BackupRecord[] = [];
  const keep = { daily: retention.daily, manual: retention.manual };
  let failed = 0;
  for (const backup of backups) {
    if (backup.status === "running") continue;
    if (backup.status === "failed") {
      if (++failed > retention.failed) out.push(backup);
      continue;
    }
    if (backup.kind === "final") {
      if (now.getTime() - Date.parse(backup.createdAt) > retention.finalDays * 86_400_000) out.push(backup);
      continue;
    }
    if (keep[backup.kind]-- <= 0) out.push(backup);
  }
  return out;
}
