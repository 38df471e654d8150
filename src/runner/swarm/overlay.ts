import type Docker from "dockerode";
import { BeamstalkError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/logger.ts";
import { checkAppName } from "../../lib/validate.ts";
import { engineError, statusOf } from "../docker/engine.ts";
import { LABEL, networkName } from "../docker/spec.ts";
import { overlaySpec } from "./spec.ts";

/**
 * An app's attachable overlay, made to exist (idempotent, also when replicas
 * start side by side). A network of that name that Beamstalk did not make, or
 * that is no overlay (the Docker runner's bridge), is refused; one that Swarm is
 * still removing (shown for a moment with no driver) is waited out first.
 */
export async function ensureOverlay(docker: Docker, logger: Logger, app: string, labels: Record<string, string>): Promise<string> {
  const name = networkName(checkAppName(app));
  const inspect = () => docker.getNetwork(name).inspect().catch((err) => (statusOf(err) === 404 ? null : Promise.reject(engineError(err, `inspecting network ${name}`)))) as Promise<Docker.NetworkInspectInfo | null>;
  let existing = await inspect();
  for (let i = 0; i < 100 && existing && !existing.Driver && existing.Labels?.[LABEL.managed] === "true"; i++) {
    await Bun.sleep(100);
    existing = await inspect();
  }
  if (existing && existing.Labels?.[LABEL.managed] !== "true") {
    throw new BeamstalkError("conflict", `docker network ${name} exists but Beamstalk did not create it`, `remove it: docker network rm ${name}`);
  }
  if (existing && existing.Driver !== "overlay") {
    throw new BeamstalkError("conflict", `docker network ${name} is a ${existing.Driver} network, not a Swarm overlay`, "the app was run by the Docker runner: see the README's \"More than one host\" for moving apps");
  }
  if (!existing) {
    // Another start may have created it meanwhile ("name conflicts").
    const created = await docker.createNetwork(overlaySpec(app, labels)).then(
      () => true,
      async (err) => {
        if (await docker.getNetwork(name).inspect().then(() => true, () => false)) return false;
        throw engineError(err, `creating network ${name}`);
      },
    );
    if (created) logger.info("runner.network.created", { app, network: name, driver: "overlay" });
  }
  return name;
}
