import type { Secret } from "../lib/secret.ts";

/** Where a line came from: the app's replicas, its builds, the router, or Beamstalk itself. */
export type LogSource = "app" | "build" | "router" | "platform";

export const LOG_SOURCES: readonly LogSource[] = ["app", "build", "router", "platform"];

/** One line of an app's log. */
export interface LogEntry {
  /** ISO 8601 with milliseconds, UTC. */
  time: string;
  source: LogSource;
  /** The replica (`web.1`), or for other sources what wrote it (`build`, `router`); may be "". */
  replica: string;
  line: string;
}

/** A drain as the state keeps it: the URL is a secret (it may hold credentials). */
export interface StoredDrain {
  id: number;
  app: string;
  url: Secret;
  createdAt: string;
}

/** What the drains need from the state (src/state/drains.ts implements it). */
export interface DrainRecords {
  all(): StoredDrain[];
  add(app: string, url: Secret): StoredDrain;
  /** False when the app has no drain with that id. */
  remove(app: string, id: number): boolean;
}

/** A drain as users see it: the URL without credentials, and how it is doing. */
export interface DrainStatus {
  id: number;
  /** The URL with any user:password and query string replaced by [REDACTED]. */
  url: string;
  created_at: string;
  connected: boolean;
  /** Lines dropped since the daemon started because the drain was down or slow. */
  missed: number;
  /** Lines delivered since the daemon started. */
  sent: number;
  last_error: string | null;
}
