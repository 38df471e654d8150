import type { Logger } from "../lib/logger.ts";
import type { ReplicaEvent } from "./types.ts";

/**
 * Runner.events() for an engine whose own event stream does not name
 * replicas (Swarm's names services, Kubernetes's would need a watch per
 * namespace): read every replica's state each poll and turn what changed
 * into events. A failed read is logged and the next poll tries again.
 */
export async function* pollEvents<S>(o: { read(): Promise<S>; diff(before: S, now: S): ReplicaEvent[]; pollMs: number; logger: Logger; signal: AbortSignal }): AsyncGenerator<ReplicaEvent> {
  let before: S | null = null;
  while (!o.signal.aborted) {
    const now = await o.read().catch((err) => {
      o.logger.warn("runner.events.poll_failed", { error: (err as Error).message });
      return null;
    });
    if (now !== null) {
      if (before !== null) for (const event of o.diff(before, now)) yield event;
      before = now;
    }
    await sleep(o.pollMs, o.signal);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), done()), { once: true });
  });
}
