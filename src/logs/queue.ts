/**
 * A FIFO with a fixed capacity: push never blocks and never grows memory past
 * the capacity; what does not fit is dropped and counted.
 */
export class BoundedQueue<T> {
  #items: T[] = [];
  #head = 0;
  #waiter: (() => void) | null = null;
  #closed = false;
  /** Items refused because the queue was full, since the last reset. */
  dropped = 0;

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.#items.length - this.#head;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** False (and counted) when the queue is full or closed. */
  push(item: T): boolean {
    if (this.#closed || this.length >= this.capacity) {
      this.dropped++;
      return false;
    }
    this.#items.push(item);
    this.#wake();
    return true;
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined as T;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Up to max items, oldest first. */
  take(max: number): T[] {
    const out: T[] = [];
    while (out.length < max) {
      const item = this.shift();
      if (item === undefined) break;
      out.push(item);
    }
    return out;
  }

  /** Resolves when an item is there, the queue closes, or the signal aborts. */
  wait(signal?: AbortSignal): Promise<void> {
    if (this.length > 0 || this.#closed || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener("abort", done);
        if (this.#waiter === done) this.#waiter = null;
        resolve();
      };
      this.#waiter?.();
      this.#waiter = done;
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  close(): void {
    this.#closed = true;
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }
}
