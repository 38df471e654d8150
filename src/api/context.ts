import type { UpgradeAction } from "./server.ts";
import type { Context } from "hono";
import { BeamstalkError, forbidden, notFound } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import type { DrainStatus, LogEntry } from "../logs/types.ts";
import type { ProcessList } from "../deploy/pipeline.ts";
import type { CronActions } from "./cron.ts";
import type { DomainDeps } from "./domains.ts";
import type { NodeActions } from "./nodes.ts";
import type { PostgresActions } from "./postgres.ts";
import type { ScaleChange } from "../deploy/scale.ts";
import type { JobOptions, JobResult, JobSpec } from "../deploy/jobs.ts";
import type { PushRequest } from "../deploy/types.ts";
import type { ProcessFormation } from "../state/formation.ts";
import type { App, Release, Role, State, User } from "../state/index.ts";
import type { Attempt, AuthThrottle } from "./throttle.ts";

/** What the API needs from the rest of the daemon; tests pass in their own. */
export interface ApiDeps {
  state: State;
  logger: Logger;
  version: string;
  /** `<app>.<baseDomain>` is where an app is served, when set. */
  baseDomain?: string;
  setupToken: SetupToken;
  deploy: DeployActions;
  /** What the API tells the router directly (the daemon passes the router). */
  routes: RouteControl;
  /** Stops what the app runs and removes everything it keeps in the data directory (repos, slugs, cache, logs, backups). */
  removeApp(app: App): Promise<void>;
  /** Told after an app is created: its `<app>.<baseDomain>` wants a certificate now, not at the next TLS pass. */
  appCreated?(app: App): void;
  /** One-off jobs, `beamstalk run` (src/deploy/jobs.ts's Jobs); the run route answers 503 without it. */
  jobs?: JobActions;
  /** app.json's scheduled jobs (src/deploy/cron.ts's CronScheduler); the cron routes answer 503 without it. */
  cron?: CronActions;
  /** App logs, build logs and drains (src/logs's Logs); the log routes answer 503 without it. */
  logs: LogActions;
  /** Managed PostgreSQL; absent in API tests that run no engine (the routes then answer 503). */
  postgres?: PostgresActions;
  /** Custom domains and certificates; absent in API tests that do not need them. */
  domains?: DomainDeps;
  /** The compiled executable's path, served to Swarm hosts' agents; absent when run from source. */
  agentBinary?: () => string | undefined;
  /** The cluster's hosts (a Swarm runner); absent on a one-host server, where /api/nodes says so. */
  nodes?: NodeActions;
  /** `<dataDir>/slugs`: where GET /internal/slugs/<app>/<release> reads a release's slug. */
  slugsDir: string;
  /** The SSH server's port (git, console, rpc), told by /api/health so the CLI can reach it. */
  sshPort?: () => number | undefined;
  /** Hands over to a new binary without dropping traffic (beamstalk upgrade). */
  upgrade?: UpgradeAction;
  /** Rate limits on failed sign-ins and API keys (throttle.ts); createApi makes its own when absent. */
  throttle?: AuthThrottle;
}

/** What the API asks of the logs (src/logs/index.ts's Logs). */
export interface LogActions {
  /** The last `num` lines; with follow, then every new one until the signal aborts. */
  entries(app: string, options: { num: number; follow: boolean; signal: AbortSignal }): AsyncIterable<LogEntry> | Iterable<LogEntry>;
  buildLog(app: string, version: number): string | null;
  drains: {
    list(app: string): DrainStatus[];
    /** Throws bad_request for a URL that is not a drain URL. */
    add(app: string, url: unknown): DrainStatus;
    remove(app: string, id: number): Promise<boolean>;
  };
}

/** What the API asks of the deploy pipeline (src/deploy/pipeline.ts's Deployer). */
export interface DeployActions {
  push(req: PushRequest, out: (line: string) => void): Promise<number>;
  /** Resolves with the release rolled out: `release`, or a newer one when a deploy landed meanwhile. */
  redeploy(app: App, release: Release, out?: (line: string) => void): Promise<Release>;
  rollback(app: App, user: User, version: number | undefined, out?: (line: string) => void): Promise<Release>;
  processes(app: App): Promise<ProcessList>;
  scale(app: App, user: User, changes: Record<string, ScaleChange>): Promise<Record<string, ProcessFormation>>;
  restart(app: App, user: User): Promise<void>;
  /** Kills one replica by name (web.1) as a crash would. */
  kill(app: App, user: User, replica: string): Promise<void>;
}

/** The router's maintenance switch (src/router/index.ts's Router). */
export interface RouteControl {
  setMaintenance(app: string, on: boolean): void;
}

/** What the API asks of one-off jobs (src/deploy/jobs.ts's Jobs). */
export interface JobActions {
  /** The job for the app's serving release; throws a BeamstalkError when there is none. */
  prepare(app: App, request: { argv: string[]; size: number }): Promise<JobSpec>;
  run(spec: JobSpec, options: JobOptions): Promise<JobResult>;
}

/** The one-time token that claims a fresh install's admin account. */
export interface SetupToken {
  /** Where an operator finds it, for hints. */
  location: string;
  matches(token: string): boolean;
  consume(): void;
}

/** How a request reached the daemon: `unix` means the local socket, i.e. root on the host. */
export interface Bindings {
  transport?: "tcp" | "unix";
  /** The client's address as the router's front saw it (never a header a client sent). */
  clientIp?: string;
}

export interface Variables {
  user: User;
  keyId: number;
}

export type Env = { Bindings: Bindings; Variables: Variables };
export type Ctx = Context<Env>;

/** Who makes this attempt, for the rate limits: no address over the local socket. */
export function attemptOf(c: Ctx, account?: unknown): Attempt {
  const address = c.env?.transport === "unix" ? null : (c.env?.clientIp ?? "unknown");
  return typeof account === "string" && account !== "" ? { address, account: account.toLowerCase().slice(0, 320) } : { address };
}

/** Parses a JSON object body with a clear error instead of a stack trace. */
export async function readJson(c: Ctx): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new BeamstalkError("invalid_json", "request body is not valid JSON", "send a JSON object with Content-Type: application/json");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new BeamstalkError("invalid_json", "request body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

export type Need = "read" | "write" | "manage";

const ALLOWED: Record<Need, Role[]> = {
  read: ["owner", "admin", "collaborator", "viewer"],
  write: ["owner", "admin", "collaborator"],
  manage: ["owner", "admin"],
};

/**
 * Loads an app the caller may act on. An app the caller has no role on
 * answers exactly like one that does not exist.
 */
export function appFor(deps: ApiDeps, user: User, name: string, need: Need): { app: App; role: Role } {
  const app = deps.state.apps.byName(name);
  const role = app ? deps.state.apps.roleOf(app, user) : null;
  if (!app || !role) throw notFound(`app ${name} not found`, "`beamstalk apps` lists the apps you can use");
  if (!ALLOWED[need].includes(role)) {
    throw forbidden(
      `your ${role} access to ${name} does not allow this`,
      need === "manage" ? "ask the app's owner or an admin" : "ask the app's owner for collaborator access",
    );
  }
  return { app, role };
}
