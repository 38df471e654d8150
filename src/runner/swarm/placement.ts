import type Docker from "dockerode";
import type { Logger } from "../../lib/logger.ts";
import type { Replica, ReplicaSpec } from "../types.ts";
import { spreadConstraints } from "./spec.ts";
import { type SwarmTask, currentTask } from "./tasks.ts";

/** Where a new replica may go (off its siblings' hosts), and letting go of that when no host is left. */

/** The hosts running this replica's siblings, when another ready, active host could take it instead. */
export async function siblingsPlacement(docker: Docker, spec: ReplicaSpec, replicas: Replica[]): Promise<string[]> {
  const siblings = replicas.filter((r) => r.process === spec.process && r.release === spec.release && r.state !== "exited" && r.node);
  const nodes = (await docker.listNodes().catch(() => [])) as { ID: string; Spec?: { Availability?: string }; Status?: { State?: string } }[];
  const ready = nodes.filter((n) => n.Status?.State === "ready" && n.Spec?.Availability === "active").map((n) => n.ID);
  return spreadConstraints(siblings.map((r) => r.node!), ready).map((c) => c.slice("node.id!=".length));
}

/**
 * A replica kept off its siblings' hosts that no host can take any more (one
 * died or was drained) gets its constraints dropped, so Swarm places it anywhere.
 */
export async function relaxPlacement(docker: Docker, logger: Logger, services: Docker.Service[], tasks: SwarmTask[]): Promise<void> {
  for (const service of services) {
    const task = currentTask(tasks.filter((t) => t.ServiceID === service.ID));
    const template = service.Spec?.TaskTemplate as Docker.ContainerTaskSpec | undefined;
    if (task?.Status.State !== "pending" || !template?.Placement?.Constraints?.length) continue;
    if (!/no suitable node/i.test(`${task.Status.Err ?? ""} ${task.Status.Message ?? ""}`)) continue;
    const spec = { ...service.Spec, TaskTemplate: { ...template, Placement: { ...template.Placement, Constraints: [] } } };
    await docker.getService(service.ID).update({ ...spec, version: service.Version?.Index } as never).then(
      () => logger.info("runner.placement.relaxed", { service: service.Spec?.Name }),
      (err) => logger.warn("runner.placement.relax_failed", { service: service.Spec?.Name, error: (err as Error).message }),
    );
  }
}
