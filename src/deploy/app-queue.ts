/**
 * Runs work for one app at a time: pushes, rollbacks and config redeploys of an
 * app queue behind each other; different apps run side by side.
 */
export class AppQueue {
  readonly #tails = new Map<string, Promise<unknown>>();

  busy(app: string): boolean {
    return this.#tails.has(app);
  }

  /** Apps with work running or queued. */
  busyApps(): string[] {
    return [...this.#tails.keys()];
  }

  /** Runs fn after everything queued for the app; onWait is told when it has to wait. */
  run<T>(app: string, fn: () => Promise<T>, onWait?: () => void): Promise<T> {
    const before = this.#tails.get(app);
    if (before) onWait?.();
    const mine = (before ?? Promise.resolve()).catch(() => {}).then(fn);
    const tail = mine.catch(() => {});
    this.#tails.set(app, tail);
    void tail.then(() => {
      if (this.#tails.get(app) === tail) this.#tails.delete(app);
    });
    return mine;
  }
}
