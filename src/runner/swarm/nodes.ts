import type Docker from "dockerode";
import { BeamstalkError } from "../../lib/errors.ts";
import { Secret } from "../../lib/secret.ts";
import { LABEL } from "../docker/spec.ts";
import type { SwarmTask } from "./tasks.ts";
import type { Host } from "../../lib/hosts.ts";

/**
 * The hosts of a Swarm as an admin sees them, and the Swarm side of adding,
 * draining and removing one. Moving replicas off a host is the deploy
 * pipeline's part (it has the health checks and the routes).
 */

/** A Swarm node as Beamstalk shows it (lib/hosts.ts: the API and CLI share the shape). */
export type SwarmHost = Host;

interface SwarmNode {
  ID: string;
  Spec: { Role: "manager" | "worker"; Availability: string; Labels?: Record<string, string>; Name?: string };
  Version: { Index: number };
  Description?: { Hostname?: string; Resources?: { NanoCPUs?: number; MemoryBytes?: number } };
  Status: { State: string; Addr?: string; Message?: string };
  ManagerStatus?: { Leader?: boolean; Addr?: string; Reachability?: string };
}

export type Availability = "active" | "pause" | "drain";

export class SwarmNodes {
  constructor(private readonly docker: Docker) {}

  async list(): Promise<SwarmHost[]> {
    const [nodes, tasks] = await Promise.all([this.#nodes(), this.#replicaTasks()]);
    return nodes
      .map((n) => ({
        id: n.ID,
        hostname: n.Description?.Hostname ?? n.ID.slice(0, 12),
        address: n.Status.Addr ?? "",
        role: n.Spec.Role,
        state: n.Status.State,
        availability: n.Spec.Availability,
        leader: n.ManagerStatus?.Leader ?? false,
        cpus: Math.round(((n.Description?.Resources?.NanoCPUs ?? 0) / 1e9) * 10) / 10,
        memoryBytes: n.Description?.Resources?.MemoryBytes ?? 0,
        replicas: tasks.filter((t) => t.NodeID === n.ID).length,
      }))
      .sort((a, b) => Number(b.role === "manager") - Number(a.role === "manager") || a.hostname.localeCompare(b.hostname));
  }

  /** A host by hostname, address or (a prefix of) its id; an unknown one is a clear 404. */
  async find(host: string): Promise<SwarmHost> {
    const hosts = await this.list();
    const found = hosts.find((h) => h.hostname === host || h.address === host || h.id === host) ?? hosts.filter((h) => host.length >= 6 && h.id.startsWith(host))[0];
    if (!found) throw new BeamstalkError("not_found", `no host ${JSON.stringify(host).slice(0, 80)} in the Swarm`, `beamstalk nodes lists them: ${hosts.map((h) => h.hostname).join(", ")}`);
    return found;
  }

  /** The one command a new host runs to join as a worker (the token is a Secret: it reaches the admin, never a log). */
  async joinCommand(): Promise<{ argv: (string | Secret)[]; manager: string }> {
    const swarm = (await this.docker.swarmInspect()) as { JoinTokens?: { Worker?: string } };
    const token = swarm.JoinTokens?.Worker;
    const leader = (await this.#nodes()).find((n) => n.ManagerStatus?.Leader);
    const manager = leader?.ManagerStatus?.Addr;
    if (!token || !manager) throw new BeamstalkError("unreachable", "the Swarm gave no worker join token or manager address", "is this host still a Swarm manager? docker info");
    return { argv: ["docker", "swarm", "join", "--token", new Secret(token), manager], manager };
  }

  async setAvailability(host: SwarmHost, availability: Availability): Promise<void> {
    const node = (await this.#nodes()).find((n) => n.ID === host.id);
    if (!node) throw new BeamstalkError("not_found", `host ${host.hostname} left the Swarm`);
    if (node.Spec.Availability === availability) return;
    await (this.docker.getNode(node.ID).update({ version: node.Version.Index, ...node.Spec, Availability: availability }) as Promise<unknown>)
      .catch((err: unknown) => {
        throw new BeamstalkError("internal", `setting ${host.hostname} to ${availability}: ${(err as { json?: { message?: string } }).json?.message ?? (err as Error).message}`);
      });
  }

  /** Hosts that can take replicas besides this one. */
  async othersActive(host: SwarmHost): Promise<SwarmHost[]> {
    return (await this.list()).filter((h) => h.id !== host.id && h.availability === "active" && h.state === "ready");
  }

  async remove(host: SwarmHost): Promise<void> {
    if (host.role === "manager") throw new BeamstalkError("conflict", `${host.hostname} is a manager`, "demote it first (docker node demote), or run the server elsewhere");
    if (host.replicas > 0) throw new BeamstalkError("conflict", `${host.hostname} still runs ${host.replicas} replica${host.replicas > 1 ? "s" : ""}`, `move them first: beamstalk nodes:drain ${host.hostname}`);
    // A host that is still up must leave first (docker swarm leave on it); one that is down can go.
    await (this.docker.getNode(host.id).remove({ force: host.state !== "ready" }) as Promise<unknown>)
      .catch((err: unknown) => {
        const detail = (err as { json?: { message?: string } }).json?.message ?? (err as Error).message;
        throw new BeamstalkError("conflict", `removing ${host.hostname}: ${detail}`, host.state === "ready" ? `on ${host.hostname}, run: docker swarm leave; then remove it again` : undefined);
      });
  }

  async #nodes(): Promise<SwarmNode[]> {
    return (await this.docker.listNodes().catch(notAnswering)) as SwarmNode[];
  }

  async #replicaTasks(): Promise<SwarmTask[]> {
    // Swarm ORs several label filters: one goes to the engine, the rest is checked here.
    const services = (await this.docker.listServices({ filters: { label: [`${LABEL.managed}=true`] } }).catch(notAnswering)).filter((s) => s.Spec?.Labels?.[LABEL.app]);
    if (services.length === 0) return [];
    const tasks = (await this.docker.listTasks({ filters: { service: services.map((s) => s.ID), "desired-state": ["running"] } }).catch(notAnswering)) as SwarmTask[];
    return tasks.filter((t) => t.Status.State === "running");
  }
}

/** Any read the manager cannot answer (no leader, its deadline) says which layer and what to check. */
function notAnswering(err: unknown): never {
  throw new BeamstalkError("unreachable", `the Swarm does not answer: ${(err as { json?: { message?: string } }).json?.message ?? (err as Error).message}`, "is a manager quorum up? docker node ls");
}
