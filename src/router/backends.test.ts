import { expect, test } from "bun:test";
import { BackendRegistry } from "./backends.ts";

test("drain resolves at once when idle, when the count reaches 0, or at the timeout with the count", async () => {
  const registry = new BackendRegistry();
  const one = { host: "127.0.0.1", port: 4001 };
  const state = registry.acquire(one);
  expect(await registry.drain([one], 10)).toEqual({ drained: true, inFlight: 0 });
  registry.started(state);
  registry.started(state);
  expect(await registry.drain([one], 10)).toEqual({ drained: false, inFlight: 2 });
  const waiting = registry.drain([one], 5000);
  registry.finished(state);
  registry.finished(state);
  expect(await waiting).toEqual({ drained: true, inFlight: 0 });
});

test("counts survive a route switch: the same host:port is one state", () => {
  const registry = new BackendRegistry();
  const a = registry.acquire({ host: "127.0.0.1", port: 4001 });
  registry.started(a);
  registry.release(a);
  const again = registry.acquire({ host: "127.0.0.1", port: 4001 });
  expect(again).toBe(a);
  expect(registry.inFlight([{ host: "127.0.0.1", port: 4001 }])).toBe(1);
});
