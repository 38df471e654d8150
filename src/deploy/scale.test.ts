import { describe, expect, test } from "bun:test";
import type { Release } from "../state/index.ts";
import { checkScale } from "./scale.ts";

const release = { version: 4, processTypes: { web: "bin/x start", worker: "bin/x eval W.run()" } } as unknown as Release;
const current = { web: { count: 1, size: 1 }, worker: { count: 0, size: 1 } };

describe("checkScale", () => {
  test("merges the change into the whole formation", () => {
    expect(checkScale(release, current, { web: { count: 3 } })).toEqual({ web: { count: 3, size: 1 }, worker: { count: 0, size: 1 } });
    expect(checkScale(release, current, { worker: { count: 2, size: 0.5 } })).toEqual({ web: { count: 1, size: 1 }, worker: { count: 2, size: 0.5 } });
    expect(checkScale(release, current, { web: { size: 16 } }).web).toEqual({ count: 1, size: 16 });
    expect(checkScale(release, current, { web: { size: 2.3 } }).web!.size).toBe(2.3);
    expect(current.web).toEqual({ count: 1, size: 1 });
  });

  test.each([
    [{ web: { count: -1 } }, /whole number from 0 to 100/],
    [{ web: { count: 1.5 } }, /whole number/],
    [{ web: { count: 101 } }, /whole number/],
    [{ web: { size: 0.4 } }, /0.5 to 16 in steps of 0.1/],
    [{ web: { size: 16.1 } }, /0.5 to 16/],
    [{ web: { size: 1.25 } }, /steps of 0.1/],
    [{ web: { size: Number.NaN } }, /steps of 0.1/],
    [{ clock: { count: 1 } }, /v4 has no process type "clock"/],
    [{}, /nothing to scale/],
  ])("refuses %j", (change, message) => {
    expect(() => checkScale(release, current, change)).toThrow(message);
  });
});
