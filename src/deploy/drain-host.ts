import { BeamstalkError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import type { Runner } from "../runner/types.ts";
import type { SwarmHost, SwarmNodes } from "../runner/swarm/nodes.ts";
import type { App, State, User } from "../state/index.ts";

export interface DrainDeps {
  nodes: SwarmNodes;
  runner: Pick<Runner, "list">;
  state: State;
  logger: Logger;
  /** The Swarm node this server runs on. */
  controllerNode: string;
  /** A rolling restart (the deploy pipeline's): new replicas, health-checked, routed, then the old ones drained and stopped. */
  restart(app: App, user: User, out: (line: string) => void): Promise<void>;
}

/**
 * Moves every replica off a host with no failed request: the host stops
 * taking new tasks (pause), each app with a replica there gets a rolling
 * restart, whose new replicas Swarm places on the other hosts and which
 * passes the same health checks as a deploy, and then the host is set to
 * drain. If a restart fails, the host takes tasks again and what runs stays.
 *
 * The controller's own host is never drained: Swarm lets no container on a
 * paused or drained host join an overlay network ("attaching to network
 * failed ... context deadline exceeded"), and the router's gateway, one-off
 * jobs and databases join each app's overlay there.
 */
export async function drainHost(deps: DrainDeps, name: string, user: User, out: (line: string) => void): Promise<SwarmHost> {
  const host = await deps.nodes.find(name);
  if (host.availability === "drain") return host;
  if (host.id === deps.controllerNode) {
    throw new BeamstalkError("conflict", `${host.hostname} runs this Beamstalk server: it cannot be drained`, "the router, jobs and databases join each app's network from it, which Swarm refuses on a drained host; run the server on another manager to free this one");
  }
  const pinned = deps.state.databases.all().filter((d) => d.node === host.id);
  if (pinned.length > 0) {
    // It would keep running there, but a drained host lets no container (re)join an overlay: a restart would cut it off.
    throw new BeamstalkError("conflict", `${host.hostname} holds the PostgreSQL database of ${pinned.map((d) => d.app).join(", ")}: it cannot be drained`, `move it first: beamstalk pg:backups:capture -a ${pinned[0]!.app}, pg:destroy, pg:create --node <another host>, pg:backups:restore`);
  }
  const others = await deps.nodes.othersActive(host);
  if (others.length === 0) throw new BeamstalkError("conflict", `${host.hostname} is the last host that can run replicas`, "add a host first: beamstalk nodes:add");
  await deps.nodes.setAvailability(host, "pause");
  try {
    const apps = [...new Set((await deps.runner.list()).filter((r) => r.node === host.id && r.state !== "exited").map((r) => r.app))];
    out(`${host.hostname}: moving ${apps.length ? apps.join(", ") : "nothing"} to ${others.map((h) => h.hostname).join(", ")}`);
    for (const name of apps) {
      const app = deps.state.apps.byName(name);
      if (app) await deps.restart(app, user, (line) => out(`${name}: ${line}`));
    }
    const left = (await deps.runner.list()).filter((r) => r.node === host.id && r.state === "running");
    if (left.length > 0) throw new BeamstalkError("internal", `${left.length} replicas are still on ${host.hostname}: ${left.map((r) => r.name).join(", ")}`);
  } catch (err) {
    await deps.nodes.setAvailability(host, "active").catch(() => {});
    throw err;
  }
  await deps.nodes.setAvailability(host, "drain");
  deps.logger.info("nodes.drained", { host: host.hostname, by: user.email });
  return { ...host, availability: "drain", replicas: 0 };
}
