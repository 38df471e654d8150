import type { Database } from "bun:sqlite";

/**
 * How many times the supervisor started each replica again (the engine counts
 * its own restarts): kept here so `ps` still shows them after a daemon restart.
 */
export class Revivals {
  constructor(private readonly db: Database) {}

  count(replicaId: string): number {
    return (this.db.query("SELECT count FROM revivals WHERE replica_id = ?").get(replicaId) as { count: number } | null)?.count ?? 0;
  }

  /** One more; returns the new count. */
  bump(replicaId: string): number {
    return (this.db.query("INSERT INTO revivals (replica_id, count) VALUES (?, 1) ON CONFLICT(replica_id) DO UPDATE SET count = count + 1 RETURNING count").get(replicaId) as { count: number }).count;
  }

  ids(): string[] {
    return (this.db.query("SELECT replica_id FROM revivals").all() as { replica_id: string }[]).map((r) => r.replica_id);
  }

  /** Forgets replicas that no longer exist (their containers or tasks are gone). */
  keepOnly(replicaIds: Set<string>): number {
    const ids = this.ids().filter((id) => !replicaIds.has(id));
    for (const id of ids) this.db.query("DELETE FROM revivals WHERE replica_id = ?").run(id);
    return ids.length;
  }
}
