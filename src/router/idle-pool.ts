/**
 * Idle keep-alive connections to the apps' replicas, per backend, newest
 * first. One idle longer than `maxIdleMs` is closed rather than reused: Node's
 * and Bun's servers drop idle connections after 5–10 s, and a request sent on
 * one being dropped would be lost.
 */
export class IdlePool<Key, Item extends { idleSince: number }> {
  readonly #pools = new Map<Key, Item[]>();

  constructor(
    private readonly options: {
      maxIdleMs: number;
      /** Idle connections kept per backend; more are closed. */
      size: number;
      close: (item: Item) => void;
    },
  ) {}

  /** The newest idle connection for `key` that is fresh enough; older ones on the way are closed. */
  take(key: Key, now: number): Item | undefined {
    const pool = this.#pools.get(key);
    while (pool !== undefined && pool.length > 0) {
      const item = pool.pop()!;
      if (now - item.idleSince <= this.options.maxIdleMs) return item;
      this.options.close(item);
    }
    return undefined;
  }

  /** Keeps `item` for reuse (or closes it when the pool is full). */
  give(key: Key, item: Item, now: number): void {
    item.idleSince = now;
    let pool = this.#pools.get(key);
    if (pool === undefined) this.#pools.set(key, (pool = []));
    if (pool.length < this.options.size) pool.push(item);
    else this.options.close(item);
  }

  /** Forgets a connection that closed while idle. */
  remove(key: Key, item: Item): void {
    const pool = this.#pools.get(key);
    const i = pool?.indexOf(item) ?? -1;
    if (i >= 0) pool!.splice(i, 1);
  }

  closeAll(): void {
    for (const pool of this.#pools.values()) for (const item of pool.splice(0)) this.options.close(item);
  }
}
