/**
 * What the fuzz suite (test/fuzz) shares: a seeded PRNG, so a failure comes
 * back with the same seed (FUZZ_SEED=n), a time budget per target
 * (FUZZ_MS, default 3000), and the line each target prints: inputs tried,
 * time, seed.
 */

export const FUZZ_MS = Number(process.env.FUZZ_MS ?? 3_000);
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** mulberry32: small, fast, and the same sequence for the same seed. */
export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** Bytes that parsers trip over. */
const SHARP = [0, 9, 10, 13, 32, 34, 39, 44, 45, 46, 47, 58, 59, 61, 92, 127, 128, 255];

/** One random edit of `input`: flip, insert, delete, duplicate or splice in a sharp byte or a piece of `extras`. */
export function mutate(rng: Rng, input: Buffer, extras: readonly string[] = []): Buffer {
  const at = input.length === 0 ? 0 : rng.int(input.length);
  switch (rng.int(7)) {
    case 0:
      return Buffer.concat([input.subarray(0, at), Buffer.from([rng.pick(SHARP)]), input.subarray(at)]);
    case 1: {
      const copy = Buffer.from(input);
      if (copy.length > 0) copy[at] = rng.int(256);
      return copy;
    }
    case 2:
      return Buffer.concat([input.subarray(0, at), input.subarray(Math.min(input.length, at + 1 + rng.int(8)))]);
    case 3: {
      const len = 1 + rng.int(16);
      return Buffer.concat([input.subarray(0, at), input.subarray(at, at + len), input.subarray(at)]);
    }
    case 4:
      return extras.length === 0 ? input : Buffer.concat([input.subarray(0, at), Buffer.from(rng.pick(extras), "latin1"), input.subarray(at)]);
    case 5:
      return Buffer.concat([input.subarray(0, at), rng.bytes(1 + rng.int(8)), input.subarray(at)]);
    default: {
      const copy = Buffer.from(input);
      if (copy.length > 0) copy[at] = rng.pick(SHARP);
      return copy;
    }
  }
}

/** Runs `one` on fresh inputs until the budget is spent; returns how many ran, and prints it with the seed. */
export async function fuzz(target: string, one: (rng: Rng, i: number) => void | Promise<void>, options: { ms?: number; max?: number; unit?: string } = {}): Promise<number> {
  const rng = new Rng(FUZZ_SEED);
  const ms = options.ms ?? FUZZ_MS;
  const started = performance.now();
  let n = 0;
  while (performance.now() - started < ms && n < (options.max ?? Infinity)) {
    await one(rng, n);
    n++;
  }
  const took = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`fuzz ${target}: ${n} ${options.unit ?? "inputs"} in ${took} s (FUZZ_SEED=${FUZZ_SEED})`);
  return n;
}
