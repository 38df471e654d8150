/** The runner room's public surface (DESIGN §4): the interface, and the Docker engine. */
export type { LogLine, LogOptions, Replica, ReplicaSpec, Runner, SlugDelivery, SlugUrl } from "./types.ts";
export { SwarmRunner, type SwarmRunnerOptions } from "./swarm/runner.ts";
export { ensureManager } from "./swarm/manager.ts";
export { SwarmNodes, type SwarmHost } from "./swarm/nodes.ts";
export { DockerRunner, ReplicaBootError, type DockerRunnerOptions } from "./docker/runner.ts";
export { containerSpec, networkName, internalName, replicaHost } from "./docker/spec.ts";
export { bootScript, writeBootScript } from "./boot-script.ts";
