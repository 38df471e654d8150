import type Docker from "dockerode";
import { BeamstalkError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/logger.ts";

interface SwarmInfo {
  LocalNodeState?: string;
  ControlAvailable?: boolean;
  NodeID?: string;
  Error?: string;
  RemoteManagers?: { Addr: string }[] | null;
}

/**
 * The controller host's engine must be a Swarm manager: the server makes it
 * one when it is in no Swarm yet (`docker swarm init`), and refuses a worker
 * or a node whose Swarm has lost quorum, saying what to do.
 */
export async function ensureManager(docker: Docker, logger: Logger, advertiseAddr?: string): Promise<{ nodeId: string }> {
  const info = (await docker.info().catch((err) => {
    throw new BeamstalkError("unreachable", `the Docker engine is not reachable: ${(err as Error).message}`, "is dockerd running?");
  })) as { Swarm?: SwarmInfo };
  const swarm = info.Swarm ?? {};
  if (swarm.LocalNodeState === "inactive") {
    await docker
      .swarmInit({ ListenAddr: "0.0.0.0:2377", ...(advertiseAddr ? { AdvertiseAddr: advertiseAddr } : {}) })
      .catch((err) => {
        const detail = (err as { json?: { message?: string } }).json?.message ?? (err as Error).message;
        throw new BeamstalkError("internal", `could not make this host a Swarm manager: ${detail}`, /advertise/i.test(detail) ? "give the address other hosts reach this one at: --swarm-advertise-addr" : undefined);
      });
    logger.info("runner.swarm.initialised", { advertise: advertiseAddr ?? "(engine's choice)" });
    return ensureManager(docker, logger, advertiseAddr);
  }
  if (swarm.LocalNodeState !== "active") {
    throw new BeamstalkError("unreachable", `this host's Swarm state is ${swarm.LocalNodeState ?? "unknown"}${swarm.Error ? `: ${swarm.Error}` : ""}`, "wait for it to settle, or see `docker info`");
  }
  if (!swarm.ControlAvailable) {
    throw new BeamstalkError("conflict", "this host is a Swarm worker: the Beamstalk server must run on a manager", "run it on a manager host, or promote this one: docker node promote <node>");
  }
  // A manager without quorum answers reads but refuses every change: say so before any deploy tries.
  const quorum = await docker.listNodes().then(() => null, (err) => (err as { json?: { message?: string } }).json?.message ?? (err as Error).message);
  if (quorum) throw new BeamstalkError("unreachable", `the Swarm has no working manager quorum: ${quorum}`, "bring the other managers back, or recover with docker swarm init --force-new-cluster");
  return { nodeId: swarm.NodeID ?? "" };
}
