/**
 * The k3s runner's public surface. The daemon imports it with `await import()`
 * only when it runs with --runner k3s, so the Kubernetes client is never
 * loaded by a server on Docker or Swarm.
 */
import type { Logger } from "../../lib/logger.ts";
import { checkRights } from "./access.ts";
import { Kube, loadKubeConfig } from "./kube.ts";
import { K3sRunner } from "./runner.ts";

export { K3sRunner, type K3sRunnerOptions } from "./runner.ts";
export { NEEDED_RIGHTS, describeRight, missingRights } from "./access.ts";
export { Kube, loadKubeConfig } from "./kube.ts";

export interface ConnectOptions {
  kubeconfig?: string;
  podCidrs: readonly string[];
  routerCidrs?: readonly string[];
  logger: Logger;
  labels?: Record<string, string>;
}

/**
 * Loads the kubeconfig and asks the API server whether its user has every
 * right Beamstalk needs; an unreachable server or a missing right fails here,
 * before anything is created.
 */
export async function connectK3s(options: ConnectOptions): Promise<K3sRunner> {
  const kube = new Kube(loadKubeConfig(options.kubeconfig));
  await checkRights(kube);
  options.logger.info("runner.k3s.connected", { server: kube.server });
  return new K3sRunner({ kube, logger: options.logger, podCidrs: options.podCidrs, ...(options.routerCidrs ? { routerCidrs: options.routerCidrs } : {}), ...(options.labels ? { labels: options.labels } : {}) });
}
