import type Docker from "dockerode";
import { LABEL, networkName } from "../docker/spec.ts";
import type { Replica } from "../types.ts";

/**
 * What the Swarm API says of a service and its tasks, read into a Replica.
 * A replica is its service (the id stays when Swarm replaces the task); its
 * address, state and host are those of the service's current task.
 */

/** The fields of a task the runner reads (the API returns more). */
export interface SwarmTask {
  ID: string;
  ServiceID: string;
  NodeID?: string;
  Slot?: number;
  DesiredState: string;
  CreatedAt: string;
  Status: {
    State: string;
    Timestamp?: string;
    Message?: string;
    Err?: string;
    ContainerStatus?: { ContainerID?: string; ExitCode?: number };
  };
  NetworksAttachments?: { Network: { Spec?: { Name?: string } }; Addresses?: string[] }[];
}

const STARTING = new Set(["new", "pending", "assigned", "accepted", "preparing", "ready", "starting"]);
const ENDED = new Set(["complete", "failed", "shutdown", "rejected", "orphaned", "remove"]);

/** The task that stands for the replica now: the newest one Swarm wants running, else the newest. */
export function currentTask(tasks: readonly SwarmTask[]): SwarmTask | undefined {
  const newest = [...tasks].sort((a, b) => b.CreatedAt.localeCompare(a.CreatedAt));
  return newest.find((t) => t.DesiredState === "running") ?? newest[0];
}

export function taskState(task: SwarmTask | undefined): Replica["state"] {
  if (!task) return "starting";
  const state = task.Status.State;
  if (state === "running") return task.DesiredState === "running" ? "running" : "exited";
  if (STARTING.has(state)) return "starting";
  // An ended task Swarm still wants running is being replaced (restart policy "any").
  if (ENDED.has(state)) return task.DesiredState === "running" ? "restarting" : "exited";
  return "unknown";
}

/** The task's address on the app's overlay ("10.0.3.5/24" → "10.0.3.5"), or "". */
export function taskAddress(task: SwarmTask | undefined, app: string): string {
  const attachment = task?.NetworksAttachments?.find((a) => a.Network.Spec?.Name === networkName(app));
  return attachment?.Addresses?.[0]?.split("/")[0] ?? "";
}

export function containerOf(task: SwarmTask | undefined): string | undefined {
  return task?.Status.ContainerStatus?.ContainerID || undefined;
}

export function toReplica(service: Docker.Service, tasks: readonly SwarmTask[]): Replica {
  const labels = service.Spec?.Labels ?? {};
  const app = labels[LABEL.app] ?? "";
  const task = currentTask(tasks);
  const state = taskState(task);
  const memory = (service.Spec?.TaskTemplate as Docker.ContainerTaskSpec | undefined)?.Resources?.Limits?.MemoryBytes ?? 0;
  return {
    id: service.ID,
    name: service.Spec?.Name ?? service.ID,
    hostname: labels[LABEL.host] ?? "",
    app,
    release: Number(labels[LABEL.release]),
    process: labels[LABEL.process] ?? "",
    index: Number(labels[LABEL.index]),
    address: { host: state === "running" ? taskAddress(task, app) : "", port: Number(labels[LABEL.port]) },
    state,
    startedAt: state === "running" ? (task?.Status.Timestamp ?? null) : null,
    // Every task after the first is a restart Swarm made (its history keeps the last few).
    restarts: Math.max(0, new Set(tasks.map((t) => t.ID)).size - 1),
    size: Math.round((memory / 1024 ** 3) * 10) / 10,
    ...(task?.NodeID ? { node: task.NodeID } : {}),
  };
}
