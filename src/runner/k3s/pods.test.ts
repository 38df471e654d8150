import { describe, expect, test } from "bun:test";
import type { V1Deployment, V1Pod } from "@kubernetes/client-node";
import { bootLines, podFailure } from "./boot-wait.ts";
import { execArgv, exitCodeOf } from "./exec.ts";
import { diffEvents, snapshotOf, toReplica } from "./pods.ts";
import { bytesOf, nanoCoresOf } from "./runner.ts";

const deployment: V1Deployment = {
  metadata: {
    name: "web-1-v3-k3x9ab",
    namespace: "beamstalk-hello",
    labels: { "beamstalk.managed": "true", "beamstalk.app": "hello", "beamstalk.release": "3", "beamstalk.process": "web", "beamstalk.index": "1", "beamstalk.port": "4000", "beamstalk.replica": "web-1-v3-k3x9ab" },
    annotations: { "beamstalk.host": "web-1-k3x9ab.hello" },
  },
  spec: { selector: {}, template: { spec: { containers: [{ name: "app", resources: { limits: { memory: "512Mi", cpu: "100m" } } }] } } },
};
const pod = (uid: string, over: { running?: boolean; ip?: string; restarts?: number; created?: string; waiting?: string; deleting?: boolean } = {}): V1Pod => ({
  metadata: { name: `web-1-v3-k3x9ab-${uid}`, uid, namespace: "beamstalk-hello", labels: { "beamstalk.replica": "web-1-v3-k3x9ab" }, creationTimestamp: new Date(over.created ?? "2026-12-03T10:00:00Z"), ...(over.deleting ? { deletionTimestamp: new Date() } : {}) },
  spec: { containers: [], nodeName: "node-a", restartPolicy: "Always" },
  status: {
    phase: over.running === false ? "Pending" : "Running",
    podIP: over.ip ?? "10.42.0.7",
    containerStatuses: [
      {
        name: "app",
        image: "",
        imageID: "",
        ready: true,
        restartCount: over.restarts ?? 0,
        state: over.running === false ? { waiting: { reason: over.waiting ?? "ContainerCreating" } } : { running: { startedAt: new Date("2026-12-03T10:00:05Z") } },
      },
    ],
  },
});

describe("reading replicas from the API", () => {
  test("a Deployment and its pod as a Replica", () => {
    expect(toReplica(deployment, [pod("u1", { restarts: 2 })])).toEqual({
      id: "hello.web-1-v3-k3x9ab",
      name: "web-1-v3-k3x9ab",
      hostname: "web-1-k3x9ab.hello",
      app: "hello",
      release: 3,
      process: "web",
      index: 1,
      address: { host: "10.42.0.7", port: 4000 },
      state: "running",
      startedAt: "2026-12-03T10:00:05.000Z",
      restarts: 2,
      size: 0.5,
      node: "node-a",
    });
    const booting = toReplica(deployment, [pod("u2", { running: false })]);
    expect(booting).toMatchObject({ state: "starting", address: { host: "", port: 4000 }, startedAt: null });
    expect(toReplica(deployment, [pod("u3", { running: false, waiting: "CrashLoopBackOff" })]).state).toBe("restarting");
    expect(toReplica(deployment, []).state).toBe("starting");
    // The newest pod not being deleted stands for the replica.
    expect(toReplica(deployment, [pod("old", { deleting: true, ip: "10.42.0.5" }), pod("new", { created: "2026-12-03T10:01:00Z", ip: "10.42.0.9" })]).address.host).toBe("10.42.0.9");
  });

  test("a replaced pod is a death at the old address and a start; a removed replica is a destroy", () => {
    const before = snapshotOf([deployment], [pod("u1", { ip: "10.42.0.7" })]);
    const replaced = snapshotOf([deployment], [pod("u2", { ip: "10.42.0.7" })]);
    expect(diffEvents(before, replaced)).toEqual([
      { id: "hello.web-1-v3-k3x9ab", app: "hello", action: "die", address: { host: "10.42.0.7", port: 4000 } },
      { id: "hello.web-1-v3-k3x9ab", app: "hello", action: "start" },
    ]);
    expect(diffEvents(before, before)).toEqual([]);
    expect(diffEvents(before, new Map())).toEqual([
      { id: "hello.web-1-v3-k3x9ab", app: "hello", action: "die", address: { host: "10.42.0.7", port: 4000 } },
      { id: "hello.web-1-v3-k3x9ab", app: "hello", action: "destroy" },
    ]);
    const crashed = snapshotOf([deployment], [pod("u1", { running: false, waiting: "CrashLoopBackOff" })]);
    expect(diffEvents(before, crashed)).toEqual([{ id: "hello.web-1-v3-k3x9ab", app: "hello", action: "die", address: { host: "10.42.0.7", port: 4000 } }]);
  });

  test("boot verdicts from the log and the pod's status", () => {
    expect(bootLines("beamstalk-boot: fetching slug from http://x/\nbeamstalk-boot: starting process\nhello\n")).toEqual({ output: ["beamstalk-boot: fetching slug from http://x/", "beamstalk-boot: starting process"], ready: true, error: null });
    expect(bootLines("beamstalk-boot: error: slug at /x is not a valid gzip archive\n").error).toBe("slug at /x is not a valid gzip archive");
    expect(podFailure(pod("u", { running: false, waiting: "ImagePullBackOff" }))).toBe("the pod cannot start: ImagePullBackOff");
    expect(podFailure(pod("u", { running: false }))).toBeNull();
  });

  test("quantities from the metrics API", () => {
    expect(bytesOf("1024Ki")).toBe(1048576);
    expect(bytesOf("1Gi")).toBe(1073741824);
    expect(bytesOf("12345")).toBe(12345);
    expect(nanoCoresOf("250m")).toBe(250e6);
    expect(nanoCoresOf("1234567n")).toBe(1234567);
    expect(nanoCoresOf("2")).toBe(2e9);
  });
});

describe("exec through the API", () => {
  test("argv is wrapped to run as the app user in /app, each value its own element (no shell)", () => {
    expect(execArgv(["bin/hello", "rpc", "IO.puts(:ok); System.halt()"], { tty: false, env: { TERM: "xterm" } })).toEqual([
      "setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "--",
      "env", "-C", "/app", "HOME=/app", "USER=app", "TERM=xterm", "--",
      "bin/hello", "rpc", "IO.puts(:ok); System.halt()",
    ]);
    expect(execArgv(["id"], { tty: false, user: "0", workingDir: "/" })).toEqual(["env", "-C", "/", "HOME=/app", "USER=app", "--", "id"]);
    expect(() => execArgv([], { tty: false })).toThrow(/non-empty/);
    expect(() => execArgv(["x"], { tty: false, env: { "A=B": "c" } })).toThrow(/bad env name/);
  });

  test("the exit code comes from the exec's Status", () => {
    expect(exitCodeOf({ status: "Success" })).toBe(0);
    expect(exitCodeOf({ status: "Failure", reason: "NonZeroExitCode", details: { causes: [{ reason: "ExitCode", message: "3" }] } })).toBe(3);
    expect(exitCodeOf(undefined)).toBe(255);
  });
});
