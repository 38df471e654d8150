import type { Secret } from "../lib/secret.ts";

/**
 * What the deploy pipeline asks of an engine that runs replicas. Docker (one
 * host) and Swarm (many) implement it; both pass test/contract/runner.contract.ts.
 * Specs are plain data: tests assert them exactly.
 */
export interface ReplicaSpec {
  app: string;
  release: number;
  /** Process type from the Procfile, e.g. "web". */
  process: string;
  /** Replica index within the process type, 1-based. */
  index: number;
  image: string;
  /** The command to run, e.g. ["bin/hello", "start"]; the boot script fetches the slug first. */
  command: string;
  /** Host path of the slug tarball; mounted read-only (one host) or fetched over HTTP (swarm). */
  slugPath: string;
  env: Record<string, string | Secret>;
  port: number;
  /** 1 size = 1 GiB memory and 0.2 CPU. */
  size: number;
}

export interface Replica {
  /** Engine id (container id). */
  id: string;
  name: string;
  /** Host name on the app's network (`web-1-k3x9.myapp`), the host part of RELEASE_NODE. */
  hostname: string;
  app: string;
  release: number;
  process: string;
  index: number;
  /** Where the router reaches it from the host. */
  address: { host: string; port: number };
  /** "restarting": it exited and the engine restarts it (crash loop; see RestartPolicy). */
  state: "starting" | "running" | "restarting" | "exited" | "unknown";
  startedAt: string | null;
}

export interface Runner {
  /** Creates the app's private network (idempotent). */
  ensureNetwork(app: string): Promise<void>;
  /** Starts one replica and returns once the engine reports it running (not yet healthy). */
  start(spec: ReplicaSpec): Promise<Replica>;
  /**
   * Applies the replica's CPU limit from its size. A runner may let a replica
   * boot with more CPU (BEAM boot under a 0.2 CPU cap takes seconds); the deploy
   * pipeline settles each replica once it is healthy. Idempotent.
   */
  settle(id: string): Promise<void>;
  /** Stops a replica: SIGTERM, then SIGKILL after graceSeconds; removes it. */
  stop(id: string, graceSeconds?: number): Promise<void>;
  /** Replicas the engine has, found by labels (so a restarted daemon finds them). */
  list(app?: string): Promise<Replica[]>;
  /** Stops every replica of the app and removes its network. */
  removeApp(app: string): Promise<void>;
  /** A replica's output, one line at a time (boot lines and the process's stdout/stderr). */
  logs(id: string, options?: LogOptions): AsyncIterable<LogLine>;
}

export interface LogOptions {
  /** Keep streaming new lines until the replica stops or `signal` aborts. */
  follow?: boolean;
  /** Only the last n lines already written. */
  tail?: number;
  signal?: AbortSignal;
}

export interface LogLine {
  stream: "stdout" | "stderr";
  line: string;
}
