import { expect, test } from "bun:test";
import { FailureBuckets } from "./rate-limit.ts";

function clocked(burst: number, refillMs: number, maxKeys?: number) {
  let t = 1_000_000;
  const buckets = new FailureBuckets({ burst, refillMs, now: () => t, ...(maxKeys ? { maxKeys } : {}) });
  return { buckets, advance: (ms: number) => void (t += ms) };
}

test("a key may fail `burst` times, then waits for the next token, never longer than one refill", () => {
  const { buckets, advance } = clocked(3, 10_000);
  for (let i = 0; i < 3; i++) {
    expect(buckets.wait("a")).toBe(0);
    buckets.fail("a");
  }
  expect(buckets.wait("a")).toBe(10_000);
  // A thousand more failures (refused ones still recorded by a careless caller) put it into no debt.
  for (let i = 0; i < 1000; i++) buckets.fail("a");
  expect(buckets.wait("a")).toBeLessThanOrEqual(10_000);
  advance(4_000);
  expect(buckets.wait("a")).toBe(6_000);
  advance(6_000);
  expect(buckets.wait("a")).toBe(0);
  expect(buckets.wait("b")).toBe(0);
});

test("a bucket that has filled up again is forgotten, and the key starts with a full burst", () => {
  const { buckets, advance } = clocked(2, 1_000);
  buckets.fail("a");
  buckets.fail("a");
  expect(buckets.size).toBe(1);
  advance(2_000);
  expect(buckets.wait("a")).toBe(0);
  expect(buckets.size).toBe(0);
  buckets.fail("a");
  buckets.fail("a");
  expect(buckets.wait("a")).toBeGreaterThan(0);
});

test("at most maxKeys keys are kept: the least recently failed is forgotten first", () => {
  const { buckets } = clocked(1, 60_000, 3);
  for (const key of ["a", "b", "c"]) buckets.fail(key);
  buckets.fail("a"); // touched: now the newest
  buckets.fail("d");
  expect(buckets.size).toBe(3);
  expect(buckets.wait("b")).toBe(0);
  for (const key of ["a", "c", "d"]) expect(buckets.wait(key)).toBeGreaterThan(0);
});
