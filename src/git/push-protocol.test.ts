import { expect, test } from "bun:test";
import { formatExitLine, parseExitLine, parseRefUpdates, ZERO_SHA } from "./push-protocol.ts";

test("exit lines round-trip; output lines are not exit lines", () => {
  expect(formatExitLine(0)).toBe("beamstalk:exit=0\n");
  expect(parseExitLine(formatExitLine(1))).toBe(1);
  expect(parseExitLine("beamstalk:exit=0")).toBe(0);
  expect(parseExitLine("-----> beamstalk:exit=0\n")).toBeNull();
  expect(parseExitLine("beamstalk:exit=x\n")).toBeNull();
});

test("ref update lines", () => {
  const a = "a".repeat(40);
  expect(parseRefUpdates(`${ZERO_SHA} ${a} refs/heads/main\n${a} ${ZERO_SHA} refs/tags/v1\n`)).toEqual([
    { old: ZERO_SHA, new: a, ref: "refs/heads/main" },
    { old: a, new: ZERO_SHA, ref: "refs/tags/v1" },
  ]);
  expect(parseRefUpdates("")).toEqual([]);
  expect(() => parseRefUpdates("nonsense\n")).toThrow();
});
