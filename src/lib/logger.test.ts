import { expect, test } from "bun:test";
import { inspect } from "node:util";
import { createMemoryLogger } from "./logger.ts";
import { Secret } from "./secret.ts";

test("one line per event; a Secret never prints its value", () => {
  const logger = createMemoryLogger();
  const secret = new Secret("hunter2");
  logger.info("config.change", { app: "web", value: secret, note: "two words" });
  expect(logger.lines).toHaveLength(1);
  expect(logger.lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\S+Z info config\.change app=web value=\[REDACTED\] note="two words"$/);
  expect(JSON.stringify({ secret })).toBe('{"secret":"[REDACTED]"}');
  expect(`${secret}`).toBe("[REDACTED]");
  expect(inspect({ secret })).not.toContain("hunter2");
  expect(secret.reveal()).toBe("hunter2");
});
