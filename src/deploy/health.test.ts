import { afterAll, expect, test } from "bun:test";
import { waitHealthy } from "./health.ts";

let status = 503;
const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("x", { status }) });
afterAll(() => server.stop(true));

test("an open port is healthy; a closed one is not, within the bound", async () => {
  expect(await waitHealthy({ host: "127.0.0.1", port: server.port!, timeoutMs: 1000 })).toBeNull();
  const closed = await waitHealthy({ host: "127.0.0.1", port: 1, timeoutMs: 600 });
  expect(closed).toMatch(/^no healthy answer within 1 s/);
});

test("with a health path the answer must be 2xx or 3xx", async () => {
  status = 503;
  expect(await waitHealthy({ host: "127.0.0.1", port: server.port!, path: "/health", timeoutMs: 500 })).toMatch(/\/health answered 503/);
  setTimeout(() => (status = 204), 300);
  expect(await waitHealthy({ host: "127.0.0.1", port: server.port!, path: "/health", timeoutMs: 3000 })).toBeNull();
});

test("a replica that died stops the wait early", async () => {
  const began = Date.now();
  const res = await waitHealthy({ host: "127.0.0.1", port: 1, timeoutMs: 10_000, alive: async () => false });
  expect(res).toMatch(/the process exited/);
  expect(Date.now() - began).toBeLessThan(2000);
});

test("with a node probe, the port answering is not enough: the node must answer too, within the same bound", async () => {
  let answers = 0;
  const left: number[] = [];
  const node = async (timeoutMs: number) => {
    left.push(timeoutMs);
    return ++answers < 3 ? "its node did not answer an rpc (nodedown)" : null;
  };
  expect(await waitHealthy({ host: "127.0.0.1", port: server.port!, timeoutMs: 5000, node })).toBeNull();
  expect(answers).toBe(3);
  expect(left.every((ms) => ms <= 5000 && ms >= 1000)).toBe(true);
  const never = await waitHealthy({ host: "127.0.0.1", port: server.port!, timeoutMs: 700, node: async () => "its node did not answer an rpc (nodedown)" });
  expect(never).toMatch(/^no healthy answer within 1 s \(its node did not answer an rpc \(nodedown\)\)/);
  let asked = false;
  expect(await waitHealthy({ host: "127.0.0.1", port: 1, timeoutMs: 500, node: async () => ((asked = true), null) })).toMatch(/^no healthy answer/);
  expect(asked).toBe(false);
});
