import { expect, test } from "bun:test";
import type Docker from "dockerode";
import { diffEvents, type Snapshot } from "./events.ts";
import { type SwarmTask, currentTask, taskAddress, taskState, toReplica } from "./tasks.ts";

const task = (over: Partial<SwarmTask> & { state?: string; desired?: string; at?: string }): SwarmTask => ({
  ID: over.ID ?? "t1",
  ServiceID: "s1",
  NodeID: "n1",
  DesiredState: over.desired ?? "running",
  CreatedAt: over.at ?? "2026-12-03T07:00:00Z",
  Status: { State: over.state ?? "running", Timestamp: "2026-12-03T07:00:02Z", ContainerStatus: { ContainerID: "c1" } },
  NetworksAttachments: [
    { Network: { Spec: { Name: "ingress" } }, Addresses: ["10.0.0.9/24"] },
    { Network: { Spec: { Name: "beamstalk-hello" } }, Addresses: ["10.251.3.5/24"] },
  ],
});

test("a replica's task: the newest one Swarm wants running; states as the Runner names them", () => {
  const old = task({ ID: "old", state: "failed", desired: "shutdown", at: "2026-12-03T07:00:00Z" });
  const now = task({ ID: "new", state: "starting", at: "2026-12-03T07:00:05Z" });
  expect(currentTask([old, now])?.ID).toBe("new");
  expect(taskState(now)).toBe("starting");
  expect(taskState(task({ state: "running" }))).toBe("running");
  expect(taskState(task({ state: "failed" }))).toBe("restarting");
  expect(taskState(task({ state: "shutdown", desired: "shutdown" }))).toBe("exited");
  expect(taskState(undefined)).toBe("starting");
  expect(taskAddress(task({}), "hello")).toBe("10.251.3.5");
  expect(taskAddress(task({}), "other")).toBe("");
});

test("toReplica reads the service's labels and its task; restarts count the tasks Swarm replaced", () => {
  const service = {
    ID: "s1",
    Spec: {
      Name: "beamstalk-hello-web-2-v7-k3x9ab",
      Labels: { "beamstalk.app": "hello", "beamstalk.release": "7", "beamstalk.process": "web", "beamstalk.index": "2", "beamstalk.port": "4000", "beamstalk.host": "web-2-k3x9ab.hello" },
      TaskTemplate: { Resources: { Limits: { MemoryBytes: 1024 ** 3 } } },
    },
  } as unknown as Docker.Service;
  const tasks = [task({ ID: "a", state: "failed", desired: "shutdown", at: "2026-12-03T07:00:00Z" }), task({ ID: "b", at: "2026-12-03T07:00:03Z" })];
  expect(toReplica(service, tasks)).toEqual({
    id: "s1",
    name: "beamstalk-hello-web-2-v7-k3x9ab",
    hostname: "web-2-k3x9ab.hello",
    app: "hello",
    release: 7,
    process: "web",
    index: 2,
    address: { host: "10.251.3.5", port: 4000 },
    state: "running",
    startedAt: "2026-12-03T07:00:02Z",
    restarts: 1,
    size: 1,
    node: "n1",
  });
});

test("diffEvents: a replaced task is a die (at the dead task's address) then a start of the same replica; a removed service is destroyed", () => {
  const snap = (entries: [string, SwarmTask | undefined][]): Snapshot => new Map(entries.map(([id, t]) => [id, { app: "hello", port: 4000, task: t }]));
  const at = { host: "10.251.3.5", port: 4000 };
  const before = snap([["s1", task({ ID: "a" })], ["s2", task({ ID: "x" })], ["s3", task({ ID: "y", state: "starting" })]]);
  const now = snap([["s1", task({ ID: "b" })], ["s3", task({ ID: "y" })]]);
  expect(diffEvents(before, now)).toEqual([
    { id: "s1", app: "hello", action: "die", address: at },
    { id: "s1", app: "hello", action: "start" },
    { id: "s3", app: "hello", action: "start" },
    { id: "s2", app: "hello", action: "die", address: at },
    { id: "s2", app: "hello", action: "destroy" },
  ]);
  expect(diffEvents(now, now)).toEqual([]);
});
