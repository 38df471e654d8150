/**
 * One host of a multi-host cluster, as the runner reads it, the API sends it
 * and the CLI shows it: one declaration for all three (the API's JSON is the
 * same fields in snake_case).
 */
export interface Host {
  id: string;
  hostname: string;
  address: string;
  role: "manager" | "worker";
  /** ready, down, unknown, disconnected (Swarm's word for the host). */
  state: string;
  /** active, pause or drain. */
  availability: string;
  leader: boolean;
  cpus: number;
  memoryBytes: number;
  /** Beamstalk replicas running on it now. */
  replicas: number;
}

/** A host on the wire (GET /api/nodes and friends). */
export interface HostJson {
  id: string;
  hostname: string;
  address: string;
  role: Host["role"];
  state: string;
  availability: string;
  leader: boolean;
  cpus: number;
  memory_bytes: number;
  replicas: number;
}

export function hostJson(h: Host): HostJson {
  return { id: h.id, hostname: h.hostname, address: h.address, role: h.role, state: h.state, availability: h.availability, leader: h.leader, cpus: h.cpus, memory_bytes: h.memoryBytes, replicas: h.replicas };
}
