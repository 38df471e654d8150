import type { HealthCheckSpec } from "../lib/app-manifest.ts";

export interface HealthCheck {
  host: string;
  port: number;
  /** When set, the app must answer GET path with 2xx or 3xx; else the port must accept connections. */
  path?: string;
  timeoutMs: number;
  /** Polled between attempts: a replica that has exited will never become healthy. */
  alive?: () => Promise<boolean>;
  /**
   * Asked once the port answers, with the time left: null when the replica's
   * BEAM node answers too (see beam.ts nodeProbe), else why not.
   */
  node?: (timeoutMs: number) => Promise<string | null>;
}

/** Waits until the replica answers, bounded by timeoutMs. Returns why not, or null when healthy. */
export async function waitHealthy(check: HealthCheck): Promise<string | null> {
  const deadline = Date.now() + check.timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    last = (check.path ? await httpOnce(check) : await tcpOnce(check)) ?? "";
    if (last === "" && check.node) last = (await check.node(Math.max(1000, deadline - Date.now()))) ?? "";
    if (last === "") return null;
    if (check.alive && !(await check.alive())) return `the process exited (${last})`;
    await Bun.sleep(200);
  }
  return `no healthy answer within ${Math.round(check.timeoutMs / 1000)} s (${last})`;
}

async function tcpOnce({ host, port }: HealthCheck): Promise<string | null> {
  try {
    const socket = await Bun.connect({ hostname: host, port, socket: { data() {}, error() {} } });
    socket.end();
    return null;
  } catch (err) {
    return `port ${port}: ${(err as Error).message}`;
  }
}

async function httpOnce({ host, port, path }: HealthCheck): Promise<string | null> {
  try {
    const res = await fetch(`http://${host}:${port}${path}`, { redirect: "manual", signal: AbortSignal.timeout(5000) });
    await res.body?.cancel();
    return res.status >= 200 && res.status < 400 ? null : `${path} answered ${res.status}`;
  } catch (err) {
    return `${path}: ${(err as Error).message}`;
  }
}

/** A replica checked by app.json's startup checks (Dokku's format) instead of the default check. */
export interface StartupChecks {
  host: string;
  port: number;
  checks: HealthCheckSpec[];
  alive?: () => Promise<boolean>;
  /** A line per failed try, for the push output. */
  say?: (line: string) => void;
}

/**
 * Each check in turn: wait initialDelay, then up to `attempts` tries of GET path
 * (2xx/3xx, and the body holds `content` when set), each bounded by `timeout`,
 * `wait` apart. Returns why not, or null once every check passed.
 */
export async function waitChecks(replica: StartupChecks): Promise<string | null> {
  for (const check of replica.checks) {
    if (check.initialDelay > 0) await Bun.sleep(check.initialDelay * 1000);
    let last = "";
    for (let attempt = 1; attempt <= check.attempts; attempt++) {
      last = (await checkOnce(replica, check)) ?? "";
      if (last === "") break;
      if (replica.alive && !(await replica.alive())) return `the process exited (${last})`;
      replica.say?.(`${check.name}: attempt ${attempt} of ${check.attempts} failed: ${last}`);
      if (attempt < check.attempts) await Bun.sleep(check.wait * 1000);
    }
    if (last !== "") return `${check.name} failed ${check.attempts} time${check.attempts > 1 ? "s" : ""} (${last})`;
  }
  return null;
}

async function checkOnce({ host, port }: StartupChecks, check: HealthCheckSpec): Promise<string | null> {
  try {
    const res = await fetch(`http://${host}:${port}${check.path}`, { redirect: "manual", signal: AbortSignal.timeout(check.timeout * 1000) });
    const body = await res.text();
    if (res.status < 200 || res.status >= 400) return `${check.path} answered ${res.status}`;
    if (check.content !== undefined && !body.includes(check.content)) return `${check.path} did not contain ${JSON.stringify(check.content)}`;
    return null;
  } catch (err) {
    return `${check.path}: ${(err as Error).message}`;
  }
}
