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
