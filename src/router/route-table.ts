import { type Backend, type BackendRegistry, type BackendState } from "./backends.ts";
import { normalizeHost } from "./hostname.ts";

/** One app's route: its host names and backends, replaced as a whole. */
export interface Route {
  readonly app: string;
  readonly hostnames: readonly string[];
  readonly backends: readonly Backend[];
  readonly states: readonly BackendState[];
  /** Round-robin position. */
  cursor: number;
}

/**
 * Host name → route. setRoute builds a new Route and swaps it in, so a request
 * sees either the old backends or the new ones, never a mix.
 */
export class RouteTable {
  private readonly byApp = new Map<string, Route>();
  private readonly byHost = new Map<string, Route>();
  /** Apps in maintenance mode, by name: kept apart from the routes so setRoute leaves it alone (remove forgets it). */
  private readonly maintenance = new Set<string>();

  constructor(private readonly registry: BackendRegistry) {}

  set(app: string, hostnames: string[], backends: Backend[]): void {
    const names = [...new Set(hostnames.map(normalizeHost).filter((name) => name !== ""))];
    const route: Route = {
      app,
      hostnames: names,
      backends: backends.map((b) => ({ host: b.host, port: b.port })),
      states: backends.map((b) => this.registry.acquire(b)),
      cursor: 0,
    };
    const old = this.byApp.get(app);
    this.byApp.set(app, route);
    for (const name of names) this.byHost.set(name, route);
    if (old) this.retire(old);
  }

  remove(app: string): void {
    this.maintenance.delete(app);
    const old = this.byApp.get(app);
    if (!old) return;
    this.byApp.delete(app);
    this.retire(old);
  }

  setMaintenance(app: string, on: boolean): void {
    if (on) this.maintenance.add(app);
    else this.maintenance.delete(app);
  }

  inMaintenance(app: string): boolean {
    return this.maintenance.has(app);
  }

  /** Looks up a Host header value as sent (any case, maybe with a port). */
  lookup(host: string | null): Route | undefined {
    if (!host) return undefined;
    return this.byHost.get(host) ?? this.byHost.get(normalizeHost(host));
  }

  private retire(old: Route): void {
    for (const name of old.hostnames) if (this.byHost.get(name) === old) this.byHost.delete(name);
    for (const state of old.states) this.registry.release(state);
  }
}

/** The next backend in round-robin order, or undefined when there are none. */
export function nextBackend(route: Route): BackendState | undefined {
  const n = route.states.length;
  if (n === 0) return undefined;
  const i = route.cursor;
  route.cursor = i + 1 >= n ? 0 : i + 1;
  return route.states[i];
}
