import type { Logger } from "../lib/logger.ts";
import type { Replica, Runner } from "../runner/types.ts";
import type { State } from "../state/index.ts";
import { nodeProbe, rpcHealthCheck } from "./beam.ts";
import { waitHealthy } from "./health.ts";
import { type RouteKeeper, backendKey } from "./route-keeper.ts";

export interface SupervisorOptions {
  state: State;
  runner: Runner;
  routes: RouteKeeper;
  logger: Logger;
  /** Told about each replica it revives (the app's log gets a platform line). */
  onRevive?: (app: string, replica: string, times: number) => void;
  /** First restart delay; doubles per crash in a row up to maxDelayMs. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A replica that stays up this long has its back-off reset. */
  stableMs?: number;
}

/**
 * Keeps running apps running between deploys. When a replica dies it leaves
 * the route at once; unless the engine restarts it, the supervisor starts it
 * again after an exponential back-off (1 s, 2 s, 4 s … 60 s, reset once it
 * stays up, and by a new release, whose replicas are new). A replica that
 * comes back rejoins the route once it answers. Only replicas of the serving
 * release that the formation still wants are revived; replicas a rollout or a
 * scale starts and stops are theirs to route.
 */
export class Supervisor {
  readonly #abort = new AbortController();
  readonly #crashes = new Map<string, { count: number; lastStart: number }>();
  readonly #timers = new Set<Timer>();
  /** Replicas that died while wanted: when they start again they go back into the route. */
  readonly #down = new Set<string>();
  /** Down replicas this supervisor started again (the rest the engine restarts itself). */
  readonly #reviving = new Set<string>();
  readonly #o: Required<Pick<SupervisorOptions, "baseDelayMs" | "maxDelayMs" | "stableMs">> & SupervisorOptions;

  constructor(options: SupervisorOptions) {
    this.#o = { baseDelayMs: 1000, maxDelayMs: 60_000, stableMs: 30_000, ...options };
  }

  /** Restarts done by the supervisor (the engine counts its own in Replica.restarts). */
  revivals(id: string): number {
    return this.#o.state.revivals.count(id);
  }

  start(): void {
    void this.#watch();
  }

  stop(): void {
    this.#abort.abort();
    for (const t of this.#timers) clearTimeout(t);
  }

  async #watch(): Promise<void> {
    while (!this.#abort.signal.aborted) {
      try {
        for await (const event of this.#o.runner.events(this.#abort.signal)) {
          if (event.action === "die") void this.#onDie(event.id, event.app, event.address);
          else if (event.action === "start") void this.#onStart(event.id, event.app);
          else this.#down.delete(event.id);
        }
      } catch (err) {
        if (this.#abort.signal.aborted) return;
        this.#o.logger.warn("supervisor.events_failed", { error: (err as Error).message });
        await Bun.sleep(1000);
      }
    }
  }

  async #onDie(id: string, app: string, address?: { host: string; port: number }): Promise<void> {
    // Marked down before anything is awaited: Swarm's runner reports a task's
    // death and its replacement's start in one poll, and the start must find it.
    this.#down.add(id);
    // The dead task's address leaves the route even when its replacement got the same one (it rejoins
    // once healthy): what was sent to the dead task is cut, not left waiting for an answer.
    if (address) this.#o.routes.drop(app, address);
    await this.prune(app);
    const replica = (await this.#o.runner.list(app).catch(() => [])).find((r) => r.id === id);
    if (!replica || !this.#wanted(replica)) {
      this.#down.delete(id);
      return;
    }
    this.#o.logger.info("supervisor.replica_down", { app, replica: `${replica.process}.${replica.index}`, state: replica.state });
    const now = Date.now();
    const crash = this.#crashes.get(id) ?? { count: 0, lastStart: now };
    if (now - crash.lastStart > this.#o.stableMs) crash.count = 0;
    const delay = Math.min(this.#o.baseDelayMs * 2 ** crash.count, this.#o.maxDelayMs);
    crash.count++;
    this.#crashes.set(id, crash);
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void this.#maybeRevive(id, app);
    }, delay);
    this.#timers.add(timer);
  }

  async #maybeRevive(id: string, app: string): Promise<void> {
    if (this.#abort.signal.aborted) return;
    const replica = (await this.#o.runner.list(app).catch(() => [])).find((r) => r.id === id);
    // Running, or the engine is bringing it back (a restart policy, or Swarm replacing its task): not ours to start.
    if (!replica || replica.state === "running" || replica.state === "restarting" || replica.state === "starting") return;
    if (!this.#wanted(replica)) {
      this.#down.delete(id);
      return;
    }
    try {
      await this.#o.runner.revive(id);
      this.#o.state.revivals.bump(id);
      this.#reviving.add(id);
      this.#o.logger.info("supervisor.revived", { app, replica: `${replica.process}.${replica.index}`, times: this.revivals(id) });
      this.#o.onRevive?.(app, `${replica.process}.${replica.index}`, this.revivals(id));
    } catch (err) {
      this.#o.logger.warn("supervisor.revive_failed", { app, id: id.slice(0, 12), error: (err as Error).message });
      void this.#onDie(id, app);
    }
  }

  /** A replica of the serving release that the formation still asks for. */
  #wanted(replica: Replica): boolean {
    const { state } = this.#o;
    const app = state.apps.byName(replica.app);
    const current = app ? state.releases.current(app.id) : null;
    if (!app || !current || !state.releases.lineage(app.id, current.version).has(replica.release)) return false;
    const formation = state.formation.for(app.id, Object.keys(current.processTypes));
    return replica.index <= (formation[replica.process]?.count ?? 0);
  }

  /** As a deploy checks it: the serving release's config says whether its node must answer an rpc. */
  #rpcHealth(replica: Replica): boolean {
    const { state } = this.#o;
    const app = state.apps.byName(replica.app);
    const current = app ? state.releases.current(app.id) : null;
    return app && current ? rpcHealthCheck(state.releases.config(app.id, app.name, current.version) ?? {}) : true;
  }

  async #onStart(id: string, app: string): Promise<void> {
    const crash = this.#crashes.get(id);
    if (crash) crash.lastStart = Date.now();
    if (!this.#down.has(id)) return; // a rollout's or a scale's new replica: they route it
    const replica = (await this.#o.runner.list(app).catch(() => [])).find((r) => r.id === id);
    if (!replica || !this.#wanted(replica)) {
      this.#down.delete(id);
      return;
    }
    if (replica.process !== "web") {
      this.#down.delete(id);
      return;
    }
    const rpc = this.#rpcHealth(replica);
    const problem = await waitHealthy({ host: replica.address.host, port: replica.address.port, timeoutMs: 60_000, ...(rpc ? { node: nodeProbe(this.#o.runner, id) } : {}) });
    if (problem) return; // it will die again (and be revived), staying out of the route
    await this.#o.runner.settle(id).catch(() => {});
    if (this.#down.delete(id) && this.#wanted(replica)) {
      this.#o.routes.add(app, replica.address);
      // What the engine restarted on its own (a Swarm task replaced) is told too, with the engine's count.
      if (!this.#reviving.delete(id)) this.#o.onRevive?.(app, `${replica.process}.${replica.index}`, Math.max(1, replica.restarts));
      this.#o.logger.info("supervisor.replica_back", { app, replica: `${replica.process}.${replica.index}`, address: `${replica.address.host}:${replica.address.port}` });
    }
  }

  /** Takes every backend that is not a running replica out of the app's route. */
  async prune(app: string): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const generation = this.#o.routes.generation(app);
      const replicas = await this.#o.runner.list(app).catch(() => null);
      if (!replicas) return;
      const alive = new Set(replicas.filter((r) => r.state === "running" && r.address.host).map((r) => backendKey(r.address)));
      if (this.#o.routes.pruneIfUnchanged(app, generation, alive)) return;
    }
  }
}
