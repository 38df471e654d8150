import type { Backend, RouteTarget } from "./rollout.ts";

const key = (b: Backend) => `${b.host}:${b.port}`;

/**
 * The router, as the deploy pipeline and the supervisor share it. It remembers
 * each app's route, so the supervisor can take a dead replica out or put a
 * revived one back without knowing what a rollout is doing; every change bumps
 * the app's generation, so an answer computed from a stale look at the engine
 * can be told apart and dropped.
 */
export class RouteKeeper implements RouteTarget {
  readonly #generation = new Map<string, number>();
  readonly #routes = new Map<string, { hostnames: string[]; backends: Backend[] }>();

  constructor(private readonly router: RouteTarget & { removeRoute(app: string): void; abandon(backends: Backend[]): void }) {}

  generation(app: string): number {
    return this.#generation.get(app) ?? 0;
  }

  backends(app: string): Backend[] {
    return [...(this.#routes.get(app)?.backends ?? [])];
  }

  setRoute(app: string, hostnames: string[], backends: Backend[]): void {
    this.#generation.set(app, this.generation(app) + 1);
    this.#routes.set(app, { hostnames, backends: [...backends] });
    this.router.setRoute(app, hostnames, backends);
  }

  /** Keeps only the backends in `alive`, unless the route changed since `generation` was read. */
  pruneIfUnchanged(app: string, generation: number, alive: Set<string>): boolean {
    const route = this.#routes.get(app);
    if (!route || this.generation(app) !== generation) return false;
    const kept = route.backends.filter((b) => alive.has(key(b)));
    if (kept.length !== route.backends.length) {
      this.setRoute(app, route.hostnames, kept);
      // Gone from the engine: connections to them would wait for an answer that never comes.
      this.router.abandon(route.backends.filter((b) => !alive.has(key(b))));
    }
    return true;
  }

  /** A replica died at this address: out of the route (until it is healthy again), and every connection to it cut. */
  drop(app: string, backend: Backend): void {
    const route = this.#routes.get(app);
    if (route?.backends.some((b) => key(b) === key(backend))) this.setRoute(app, route.hostnames, route.backends.filter((b) => key(b) !== key(backend)));
    this.router.abandon([backend]);
  }

  /** Adds a backend to an app's route (a replica that came back). */
  add(app: string, backend: Backend): void {
    const route = this.#routes.get(app);
    if (!route || route.backends.some((b) => key(b) === key(backend))) return;
    this.setRoute(app, route.hostnames, [...route.backends, backend]);
  }

  removeRoute(app: string): void {
    this.#generation.set(app, this.generation(app) + 1);
    this.#routes.delete(app);
    this.router.removeRoute(app);
  }

  drain(backends: Backend[], timeoutMs: number) {
    return this.router.drain(backends, timeoutMs);
  }
}

export { key as backendKey };
