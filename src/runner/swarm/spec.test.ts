import { describe, expect, test } from "bun:test";
import { Secret } from "../../lib/secret.ts";
import type { ReplicaSpec } from "../types.ts";
import { forwardPolicyArgvs, masqueradeArgv, routeArgv } from "./gateway.ts";
import { overlaySpec, serviceSpec, spreadConstraints } from "./spec.ts";

const spec: ReplicaSpec = {
  app: "hello",
  release: 7,
  process: "web",
  index: 2,
  image: "beamstalk/run:bookworm",
  command: "bin/hello start",
  slugPath: "/var/lib/beamstalk/slugs/hello/ab12.tar.gz",
  env: { APP_NAME: "hello", SECRET_KEY_BASE: new Secret("s3cret") },
  port: 4000,
  size: 1.5,
};
const options = { suffix: "k3x9ab", bootConfig: { id: "cfg1", name: "beamstalk-boot-abc" }, slug: { url: "http://10.250.0.1:8080/internal/slugs/hello/7", token: new Secret("tok") } };

describe("serviceSpec", () => {
  test("is the exact create body: one task, overlay aliases, limits and reservations, boot script as a config, nothing published", () => {
    const labels = {
      "beamstalk.managed": "true",
      "beamstalk.app": "hello",
      "beamstalk.release": "7",
      "beamstalk.process": "web",
      "beamstalk.index": "2",
      "beamstalk.port": "4000",
      "beamstalk.host": "web-2-k3x9ab.hello",
      "beamstalk.cpus": "0.3",
    };
    expect(serviceSpec(spec, { ...options, bootCpus: 2 })).toEqual({
      Name: "beamstalk-hello-web-2-v7-k3x9ab",
      Labels: labels,
      TaskTemplate: {
        ContainerSpec: {
          Image: "beamstalk/run:bookworm",
          Hostname: "web-2-k3x9ab.hello",
          Command: ["/bin/bash", "/beamstalk/boot"],
          Args: [],
          Env: [
            "RELEASE_DISTRIBUTION=name",
            "APP_NAME=hello",
            "SECRET_KEY_BASE=s3cret",
            "PORT=4000",
            "DYNO=web.2",
            "BEAMSTALK_APP=hello",
            "BEAMSTALK_RELEASE=7",
            "BEAMSTALK_PROCESS=web",
            "BEAMSTALK_INDEX=2",
            "BEAMSTALK_COMMAND=bin/hello start",
            "RELEASE_NODE=hello@web-2-k3x9ab.hello",
            "MY_NODE_NAME=hello@web-2-k3x9ab.hello",
            "DNS_CLUSTER_QUERY=hello.internal",
            "BEAMSTALK_SLUG_URL=http://10.250.0.1:8080/internal/slugs/hello/7",
            "BEAMSTALK_SLUG_TOKEN=tok",
          ],
          Labels: labels,
          Init: true,
          StopSignal: "SIGTERM",
          StopGracePeriod: 30e9,
          Configs: [{ ConfigID: "cfg1", ConfigName: "beamstalk-boot-abc", File: { Name: "/beamstalk/boot", UID: "0", GID: "0", Mode: 0o555 } }],
        },
        Resources: {
          Limits: { NanoCPUs: 2e9, MemoryBytes: 1.5 * 1024 ** 3 },
          Reservations: { NanoCPUs: 0.3e9, MemoryBytes: 1.5 * 1024 ** 3 },
        },
        RestartPolicy: { Condition: "any", Delay: 1e9, MaxAttempts: 0 },
        Networks: [{ Target: "beamstalk-hello", Aliases: ["hello.internal", "web-2-k3x9ab.hello"] }],
        LogDriver: { Name: "json-file", Options: { "max-size": "10m", "max-file": "3" } },
      },
      Mode: { Replicated: { Replicas: 1 } },
      EndpointSpec: { Mode: "dnsrr" },
    });
  });

  test("without a boot burst the limit is the size's", () => {
    const body = serviceSpec(spec, options) as { TaskTemplate: { Resources: { Limits: { NanoCPUs: number } } } };
    expect(body.TaskTemplate.Resources.Limits.NanoCPUs).toBe(0.3e9);
  });

  test("refuses what the Docker runner refuses, and a slug URL that is not http(s)", () => {
    expect(() => serviceSpec({ ...spec, app: "Bad_Name" }, options)).toThrow(/app name/i);
    expect(() => serviceSpec(spec, { ...options, slug: { url: "file:///etc/passwd", token: new Secret("t") } })).toThrow(/http/);
    expect(() => serviceSpec(spec, { ...options, suffix: "x;y" })).toThrow(/suffix/);
  });
});

test("overlaySpec: attachable overlay, labelled, named as on one host", () => {
  expect(overlaySpec("hello", { "beamstalk.test": "1" })).toEqual({
    Name: "beamstalk-hello",
    Driver: "overlay",
    CheckDuplicate: true,
    Attachable: true,
    Internal: false,
    Labels: { "beamstalk.test": "1", "beamstalk.managed": "true", "beamstalk.app": "hello" },
  });
});

test("gateway commands are argv: masquerade inside its namespace, a route on the host", () => {
  expect(masqueradeArgv(4242, "172.20.0.0/16", false)).toEqual(["nsenter", "-t", "4242", "-n", "--", "iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-s", "172.20.0.0/16", "-j", "MASQUERADE"]);
  expect(masqueradeArgv(4242, "172.20.0.0/16", true)[9]).toBe("-C");
  expect(routeArgv("10.251.3.0/24", "172.20.0.2")).toEqual(["ip", "route", "replace", "10.251.3.0/24", "via", "172.20.0.2"]);
  // It forwards only what the host sends, never between two apps' overlays.
  expect(forwardPolicyArgvs(4242, "172.20.0.0/16").map((a) => a.slice(7))).toEqual([
    ["-P", "FORWARD", "DROP"],
    ["-A", "FORWARD", "-s", "172.20.0.0/16", "-j", "ACCEPT"],
    ["-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
  ]);
});

test("spreadConstraints: off the siblings' hosts while another ready host is free; nothing when none is", () => {
  expect(spreadConstraints(["n2", "n1"], ["n1", "n2", "n3"])).toEqual(["node.id!=n1", "node.id!=n2"]);
  expect(spreadConstraints(["n1", "n2", "n3"], ["n1", "n2", "n3"])).toEqual([]);
  expect(spreadConstraints([], ["n1"])).toEqual([]);
  const body = serviceSpec(spec, { ...options, avoidNodes: ["n1"] }) as { TaskTemplate: { Placement: unknown } };
  expect(body.TaskTemplate.Placement).toEqual({ Constraints: ["node.id!=n1"] });
});
