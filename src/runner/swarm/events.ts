import type { ReplicaEvent } from "../types.ts";
import { type SwarmTask, taskAddress } from "./tasks.ts";

/**
 * Swarm's event stream names services, not tasks, and only the host a
 * container runs on reports its start and death. So the runner reads every
 * replica's current task on each poll and turns what changed into the same
 * events the Docker runner gives: the supervisor and the route keeper then
 * follow tasks (a replaced task is a new address), not containers.
 */
export type Snapshot = Map<string, { app: string; port: number; task: SwarmTask | undefined }>;

const running = (task: SwarmTask | undefined) => task?.Status.State === "running" && task.DesiredState === "running";

export function diffEvents(before: Snapshot, now: Snapshot): ReplicaEvent[] {
  const events: ReplicaEvent[] = [];
  const died = (id: string, app: string, port: number, task: SwarmTask): ReplicaEvent => {
    const host = taskAddress(task, app);
    return { id, app, action: "die", ...(host ? { address: { host, port } } : {}) };
  };
  for (const [id, { app, port, task }] of now) {
    const was = before.get(id)?.task;
    if (running(was) && (!running(task) || task!.ID !== was!.ID)) events.push(died(id, app, port, was!));
    if (running(task) && (!running(was) || was!.ID !== task!.ID)) events.push({ id, app, action: "start" });
  }
  for (const [id, { app, port, task }] of before) {
    if (now.has(id)) continue;
    if (running(task)) events.push(died(id, app, port, task!));
    events.push({ id, app, action: "destroy" });
  }
  return events;
}
