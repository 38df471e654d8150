import type { Context } from "hono";
import { BeamstalkError, forbidden, notFound } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import type { PushRequest } from "../deploy/types.ts";
import type { App, Release, Role, State, User } from "../state/index.ts";

/** What the API needs from the rest of the daemon; tests pass in their own. */
export interface ApiDeps {
  state: State;
  logger: Logger;
  version: string;
  /** `<app>.<baseDomain>` is where an app is served, when set. */
  baseDomain?: string;
  setupToken: SetupToken;
  deploy: DeployActions;
  /** Removes everything an app keeps in the data directory (repos, slugs, cache, logs, backups). */
  removeAppFiles(name: string): Promise<void>;
}

/** What the API asks of the deploy pipeline (src/deploy/pipeline.ts's Deployer). */
export interface DeployActions {
  push(req: PushRequest, out: (line: string) => void): Promise<number>;
  redeploy(app: App, release: Release, out?: (line: string) => void): Promise<void>;
  rollback(app: App, user: User, version: number | undefined, out?: (line: string) => void): Promise<Release>;
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
}

export interface Variables {
  user: User;
  keyId: number;
}

export type Env = { Bindings: Bindings; Variables: Variables };
export type Ctx = Context<Env>;

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
