/**
 * Failure buckets: how many failed attempts (wrong passwords, bad API keys) a
 * key (a client address, an account) may make before it has to wait.
 *
 * Each key has a token bucket of `burst` tokens that refills one token every
 * `refillMs`. A failure takes a token; an attempt while the bucket is empty is
 * refused with the time until the next token (Retry-After). Successes take
 * nothing. The bucket never goes into debt, so however many failures came
 * before, the wait is never longer than `refillMs`: that is the bound on how
 * long a real user is locked out by someone else's failures on their key
 * (as long as those failures stop; under a continuing attack on one account,
 * its attempts stay at one per `refillMs`).
 *
 * In memory, at most `maxKeys` keys: the least recently touched is forgotten
 * first (a Map keeps insertion order; touching re-inserts). A forgotten key
 * starts again with a full bucket, which only ever errs towards letting in.
 */

export interface BucketOptions {
  burst: number;
  refillMs: number;
  maxKeys?: number;
  /** The clock (tests pass their own). */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class FailureBuckets {
  readonly burst: number;
  readonly refillMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: BucketOptions) {
    this.burst = options.burst;
    this.refillMs = options.refillMs;
    this.#maxKeys = options.maxKeys ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** Milliseconds until `key` may try again: 0 when it may now. */
  wait(key: string): number {
    const bucket = this.#refilled(key);
    if (bucket === undefined || bucket.tokens >= 1) return 0;
    return Math.max(1, Math.ceil(this.refillMs - (this.#now() - bucket.at)));
  }

  /** A failed attempt by `key`: takes a token. */
  fail(key: string): void {
    const bucket = this.#refilled(key) ?? { tokens: this.burst, at: this.#now() };
    if (bucket.tokens >= this.burst) bucket.at = this.#now();
    bucket.tokens = Math.max(0, bucket.tokens - 1);
    this.#buckets.delete(key);
    this.#buckets.set(key, bucket);
    while (this.#buckets.size > this.#maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!);
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** The key's bucket with the tokens earned since, or undefined when it is full again (then forgotten). */
  #refilled(key: string): Bucket | undefined {
    const bucket = this.#buckets.get(key);
    if (bucket === undefined) return undefined;
    const now = this.#now();
    const earned = Math.floor((now - bucket.at) / this.refillMs);
    if (earned > 0) {
      bucket.tokens += earned;
      bucket.at += earned * this.refillMs;
    }
    if (bucket.tokens >= this.burst) {
      this.#buckets.delete(key);
      return undefined;
    }
    return bucket;
  }
}
