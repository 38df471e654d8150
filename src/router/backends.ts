/** Where an app's replica listens, as the router reaches it from the host. */
export interface Backend {
  host: string;
  port: number;
}

/**
 * What the router keeps per backend: its base URL, built once, and how many
 * proxied HTTP requests to it are in flight. One object per host:port, shared
 * by every route that names it, so counts survive a route switch.
 */
export interface BackendState {
  readonly key: string;
  readonly origin: string;
  readonly wsOrigin: string;
  inFlight: number;
  /** How many routes list it; at 0 with nothing in flight it is forgotten. */
  routes: number;
}

export function backendKey(backend: Backend): string {
  return backend.host.includes(":") ? `[${backend.host}]:${backend.port}` : `${backend.host}:${backend.port}`;
}

/** The in-flight bookkeeping behind drain(), and abandon(). */
export class BackendRegistry {
  private readonly states = new Map<string, BackendState>();
  private readonly waiters = new Set<() => void>();
  private readonly abandoners = new Set<(key: string) => void>();
  private readonly held = new Map<string, Set<() => void>>();

  /** `fn` ends every connection it holds to a backend that is abandoned; returns how to stop listening. */
  onAbandon(fn: (key: string) => void): () => void {
    this.abandoners.add(fn);
    return () => this.abandoners.delete(fn);
  }

  /** These backends' replicas died: whatever is connected to them will never be answered, so it is cut now. */
  abandon(backends: Backend[]): void {
    for (const backend of backends) {
      const key = backendKey(backend);
      for (const fn of this.abandoners) fn(key);
      const cuts = this.held.get(key);
      this.held.delete(key);
      for (const cut of cuts ?? []) cut();
    }
  }

  acquire(backend: Backend): BackendState {
    const key = backendKey(backend);
    let state = this.states.get(key);
    if (!state) {
      state = { key, origin: `http://${key}`, wsOrigin: `ws://${key}`, inFlight: 0, routes: 0 };
      this.states.set(key, state);
    }
    state.routes++;
    return state;
  }

  release(state: BackendState): void {
    state.routes--;
    this.forgetIfUnused(state);
  }

  started(state: BackendState): void {
    state.inFlight++;
  }

  finished(state: BackendState): void {
    state.inFlight--;
    if (state.inFlight === 0) {
      this.forgetIfUnused(state);
      if (this.waiters.size > 0) for (const wake of [...this.waiters]) wake();
    }
  }

  inFlight(backends: Backend[]): number {
    let total = 0;
    for (const backend of backends) total += this.states.get(backendKey(backend))?.inFlight ?? 0;
    return total;
  }

  drain(backends: Backend[], timeoutMs: number): Promise<{ drained: boolean; inFlight: number }> {
    const now = this.inFlight(backends);
    if (now === 0) return Promise.resolve({ drained: true, inFlight: 0 });
    return new Promise((resolve) => {
      const done = (drained: boolean, inFlight: number) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve({ drained, inFlight });
      };
      const check = () => {
        if (this.inFlight(backends) === 0) done(true, 0);
      };
      const timer = setTimeout(() => done(false, this.inFlight(backends)), Math.max(0, timeoutMs));
      this.waiters.add(check);
    });
  }

  /**
   * `cut` ends one exchange or session the slow path holds with a backend
   * (its fetch, its upstream WebSocket), should that backend be abandoned;
   * the returned function forgets it once the exchange is over.
   */
  hold(state: BackendState, cut: () => void): () => void {
    let cuts = this.held.get(state.key);
    if (!cuts) this.held.set(state.key, (cuts = new Set()));
    cuts.add(cut);
    return () => {
      if (cuts.delete(cut) && cuts.size === 0 && this.held.get(state.key) === cuts) this.held.delete(state.key);
    };
  }

  private forgetIfUnused(state: BackendState): void {
    if (state.routes <= 0 && state.inFlight <= 0 && this.states.get(state.key) === state) this.states.delete(state.key);
  }
}
