import type { Replica } from "../runner/types.ts";

export type ReplicaChoice = { ok: true; replica: Replica } | { ok: false; message: string };

export function replicaName(r: Pick<Replica, "process" | "index">): string {
  return `${r.process}.${r.index}`;
}

/**
 * The running replica a session attaches to: the one named (`web.1`), else the
 * first web replica (then any process type), newest release first, lowest index.
 */
export function pickReplica(app: string, replicas: Replica[], wanted?: string): ReplicaChoice {
  const running = replicas
    .filter((r) => r.app === app && r.state === "running")
    .sort((a, b) => b.release - a.release || Number(b.process === "web") - Number(a.process === "web") || a.process.localeCompare(b.process) || a.index - b.index);
  if (running.length === 0) return { ok: false, message: `app ${app} has no running replica; deploy it with git push, or check \`beamstalk ps\`` };
  if (wanted === undefined) return { ok: true, replica: running[0]! };
  const found = running.find((r) => replicaName(r) === wanted);
  if (found) return { ok: true, replica: found };
  const names = [...new Set(running.map(replicaName))].join(", ");
  return { ok: false, message: `app ${app} has no running replica ${wanted}; running: ${names}` };
}
