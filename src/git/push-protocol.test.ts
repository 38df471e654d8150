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

test("ref names git would refuse are refused: control characters, NUL, spaces, `..`, outside refs/", () => {
  const a = "a".repeat(40);
  for (const ref of ["refs/heads/../../x", "refs/heads/ma\u0000in", "refs/heads/a\tb", "refs/heads/x\rremote: fake", "heads/main", "refs/heads/.hidden", "refs/heads/x.lock", "refs/heads/a@{1}", "refs/heads//x", "refs/heads/x/", "refs/heads/~1"]) {
    expect(() => parseRefUpdates(`${ZERO_SHA} ${a} ${ref}\n`)).toThrow(/unexpected ref update line/);
  }
  expect(parseRefUpdates(`${ZERO_SHA} ${a} refs/heads/feature/x-1.2\n`)).toEqual([{ old: ZERO_SHA, new: a, ref: "refs/heads/feature/x-1.2" }]);
});
