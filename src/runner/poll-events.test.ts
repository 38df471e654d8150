import { expect, test } from "bun:test";
import { createMemoryLogger } from "../lib/logger.ts";
import { pollEvents } from "./poll-events.ts";
import type { ReplicaEvent } from "./types.ts";

test("events come from what changed between two reads; a failed read is logged and skipped; abort ends it", async () => {
  const reads: (string[] | Error)[] = [["a"], new Error("the API server does not answer"), ["a", "b"], ["b"]];
  const logger = createMemoryLogger();
  const abort = new AbortController();
  const diff = (before: string[], now: string[]): ReplicaEvent[] => [
    ...now.filter((id) => !before.includes(id)).map((id) => ({ id, app: "shop", action: "start" as const })),
    ...before.filter((id) => !now.includes(id)).map((id) => ({ id, app: "shop", action: "destroy" as const })),
  ];
  const read = async () => {
    const next = reads.shift();
    if (!next) {
      abort.abort();
      return ["b"]; // unchanged: nothing more to say
    }
    if (next instanceof Error) throw next;
    return next;
  };
  const seen: ReplicaEvent[] = [];
  for await (const event of pollEvents({ read, diff, pollMs: 1, logger, signal: abort.signal })) seen.push(event);
  expect(seen).toEqual([
    { id: "b", app: "shop", action: "start" },
    { id: "a", app: "shop", action: "destroy" },
  ]);
  expect(logger.lines.join("\n")).toContain("runner.events.poll_failed");
  expect(logger.lines.join("\n")).toContain("the API server does not answer");
});
