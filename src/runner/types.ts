import type { Duplex, Readable, Writable } from "node:stream";
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
  /** Host path of the slug tarball on the controller; bind-mounted read-only unless slugUrl is set. */
  slugPath: string;
  /** Set: the boot script downloads the slug from here instead (see Runner.slugDelivery). */
  slugUrl?: SlugUrl;
  env: Record<string, string | Secret>;
  port: number;
  /** 1 size = 1 GiB memory and 0.2 CPU. */
  size: number;
}

/**
 * Where a container downloads its release's slug at boot: the controller's
 * GET /internal/slugs/<app>/<release>, shown the release's token (state/slug-tokens.ts).
 * The container gets them as BEAMSTALK_SLUG_URL and BEAMSTALK_SLUG_TOKEN.
 */
export interface SlugUrl {
  url: string;
  token: Secret;
}

/**
 * How an engine's containers get their slug: "mount" binds the controller's file
 * read-only (one host), "url" has them download it (hosts that cannot see the
 * controller's disk). The deploy pipeline fills slugUrl for "url" (deploy/slug-source.ts).
 */
export type SlugDelivery = "mount" | "url";

export interface Replica {
  /** Engine id (container id). */
  id: string;
  name: string;
  /** Host name on the app's network (`web-1-k3x9.myapp`); its node is `<app>@<address.host>` (the boot script sets RELEASE_NODE). */
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
  /** Times the engine itself restarted it after a crash. */
  restarts: number;
  /** Its size (1 = 1 GiB memory, 0.2 CPU). */
  size: number;
  /** The Swarm node (id) its task runs on; absent on one host. */
  node?: string;
}

/** What happened to a replica, as the engine reports it. */
export interface ReplicaEvent {
  id: string;
  app: string;
  action: "start" | "die" | "destroy";
  /**
   * die, where the engine knows it: the address the replica had. Swarm gives a
   * replaced task a new address, or the same one again; either way nothing
   * connected to the dead task will ever be answered.
   */
  address?: { host: string; port: number };
}

export interface ReplicaStats {
  memoryBytes: number;
  memoryLimitBytes: number;
  /** Of one CPU: 100 = one full core. */
  cpuPercent: number;
}

export interface Runner {
  /** Whether specs must carry a slugUrl (see SlugDelivery). */
  readonly slugDelivery: SlugDelivery;
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
  /** Replica events until signal aborts (a supervisor restarts what dies and re-routes what starts). */
  events(signal: AbortSignal): AsyncIterable<ReplicaEvent>;
  /** Starts a stopped replica again (same container, same slug); resolves with its new state. */
  revive(id: string): Promise<Replica>;
  /** Memory and CPU use right now. */
  stats(id: string): Promise<ReplicaStats>;
  /** A replica's output, one line at a time (boot lines and the process's stdout/stderr). */
  logs(id: string, options?: LogOptions): AsyncIterable<LogLine>;
  /**
   * Optional: follows a replica's output from a cursor of an earlier follow, and says
   * how many lines the engine dropped before they could be read (the log collector
   * uses it where it exists). Null when this replica's log cannot be followed so.
   */
  followLog?(id: string, options: { from?: string; signal?: AbortSignal }): Promise<LogFollow | null>;
  /**
   * Runs a one-off job to its end and removes it (also on timeout and abort).
   * A job is no replica: list() never shows it, nothing routes to it.
   */
  runJob(spec: JobSpec, options: JobOptions): Promise<JobResult>;
  /**
   * Runs argv inside a running replica (as the app user in /app unless told),
   * never through a shell on the host. Resolves once the process is attached;
   * `exited` gives its exit code.
   */
  exec(id: string, argv: string[], options: ExecOptions): Promise<ExecSession>;
  /**
   * Optional: a TCP connection to a port of a running replica through the
   * engine (Kubernetes port-forward), for engines whose replicas the
   * controller may not dial itself. Absent: callers connect to address.host.
   * Resolves once the connection is open; ending or destroying it closes it.
   */
  connect?(id: string, port: number): Promise<Duplex>;
}

export interface TerminalSize {
  rows: number;
  cols: number;
}

export interface ExecOptions {
  /** Give the process a terminal (stdout and stderr then arrive together on stdout). */
  tty: boolean;
  /** Added to the replica's own environment. */
  env?: Record<string, string>;
  /** Default: the app user (uid 1000). */
  user?: string;
  /** Default: /app. */
  workingDir?: string;
  /** The terminal's first size (tty only). */
  size?: TerminalSize;
}

/** A process running inside a replica. */
export interface ExecSession {
  /** Ending it gives the process end-of-file. */
  stdin: Writable;
  stdout: Readable;
  /** Empty with a tty. */
  stderr: Readable;
  resize(size: TerminalSize): Promise<void>;
  /** Drops the connection (with a tty the process gets a hang-up). */
  close(): void;
  exited: Promise<number>;
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

/** A line, or how many lines the engine dropped unread (null: some, how many is not known). */
export type LogFollowItem = LogLine | { dropped: number | null };

/** A follow of a replica's output that can be resumed. */
export interface LogFollow extends AsyncIterable<LogFollowItem> {
  /** Where the next line starts; `followLog(id, { from })` resumes there. */
  cursor(): string;
}

/** A one-off job (`beamstalk run`): the release's slug and environment, an argv instead of a Procfile command. */
export interface JobSpec {
  app: string;
  release: number;
  image: string;
  /** Exec'd as given, never through a shell: ["bin/hello", "eval", "IO.puts(1)"]. */
  argv: string[];
  slugPath: string;
  /** As for a replica: set, the slug is downloaded instead of mounted. */
  slugUrl?: SlugUrl;
  env: Record<string, string | Secret>;
  /** 1 size = 1 GiB memory and 0.2 CPU. */
  size: number;
}

export interface JobOptions {
  /** Killed (SIGTERM, then SIGKILL) once it runs this long. */
  timeoutMs: number;
  /** Aborting kills the job (the client went away). */
  signal?: AbortSignal;
  /** The job's output as it arrives, bytes as written (the boot script's lines left out). */
  onOutput(chunk: Uint8Array, stream: "stdout" | "stderr"): void;
}

export interface JobResult {
  /** The process's exit code; a killed job has the engine's (137 after SIGKILL). */
  exitCode: number;
  /** It ran past timeoutMs and was killed. */
  timedOut: boolean;
}
