import { afterAll, expect, test } from "bun:test";
import type { HostInfo, NodeActions } from "../../src/api/nodes.ts";
import { Secret } from "../../src/lib/secret.ts";
import { testApi } from "../support/api.ts";

const host: HostInfo = { id: "n1", hostname: "host1", address: "10.0.0.11", role: "worker", state: "ready", availability: "active", leader: false, cpus: 2, memoryBytes: 2 ** 30, replicas: 2 };
const calls: string[] = [];
const nodes: NodeActions = {
  list: async () => [host],
  joinCommand: async () => ({ argv: ["docker", "swarm", "join", "--token", new Secret("SWMTKN-1-secret"), "10.0.0.1:2377"], manager: "10.0.0.1:2377" }),
  drain: async (name, _user, out) => {
    calls.push(`drain ${name}`);
    out("host1: moving web to host2");
    return { ...host, availability: "drain", replicas: 0 };
  },
  activate: async (name) => (calls.push(`activate ${name}`), host),
  remove: async (name) => void calls.push(`remove ${name}`),
  image: async () => new Blob(["tar"]).stream(),
};
const swarm = testApi({ nodes });
const single = testApi();
afterAll(() => (swarm.close(), single.close()));
let adminKey = "";

test("admins list hosts, get the join command (its token only in the answer, never in a log), drain, activate, remove", async () => {
  const key = (adminKey = await swarm.admin());
  expect((await swarm.call("GET", "/api/nodes", { key })).body).toEqual([{ id: "n1", hostname: "host1", address: "10.0.0.11", role: "worker", state: "ready", availability: "active", leader: false, cpus: 2, memory_bytes: 2 ** 30, replicas: 2 }]);
  const join = await swarm.call("POST", "/api/nodes/join", { key });
  expect(join.body.argv).toEqual(["docker", "swarm", "join", "--token", "SWMTKN-1-secret", "10.0.0.1:2377"]);
  for (const line of swarm.logger.lines) expect(line).not.toContain("SWMTKN-1-secret");
  const drained = await swarm.call("POST", "/api/nodes/host1/drain", { key });
  expect(drained.body).toMatchObject({ host: { availability: "drain", replicas: 0 }, output: ["host1: moving web to host2"] });
  expect((await swarm.call("POST", "/api/nodes/host1/activate", { key })).status).toBe(200);
  expect((await swarm.call("DELETE", "/api/nodes/host1", { key })).status).toBe(204);
  expect(calls).toEqual(["drain host1", "activate host1", "remove host1"]);
});

test("other users may not, and a one-host server says how to get more hosts", async () => {
  const user = await swarm.user(adminKey, "dev@example.com");
  const refused = await swarm.call("GET", "/api/nodes", { key: user });
  expect(refused.status).toBe(403);
  expect(refused.body.error.message).toMatch(/only admins manage hosts/);
  const key = await single.admin();
  const one = await single.call("GET", "/api/nodes", { key });
  expect(one.status).toBe(409);
  expect(one.body.error).toMatchObject({ code: "conflict", message: expect.stringContaining("--runner docker"), hint: expect.stringContaining("--runner swarm") });
});
