import { describe, expect, test } from "bun:test";
import { Secret } from "../../lib/secret.ts";
import type { JobSpec, ReplicaSpec } from "../types.ts";
import { deploymentObject, envSecretObject, jobPodObject, resourcesFor } from "./workload-objects.ts";

const token = new Secret("tok123");
const spec: ReplicaSpec = {
  app: "hello",
  release: 3,
  process: "web",
  index: 1,
  image: "beamstalk/run:bookworm",
  command: "bin/hello start",
  slugPath: "/var/lib/beamstalk/slugs/hello/ab.tar.gz",
  slugUrl: { url: "http://10.0.0.1/internal/slugs/hello/3", token },
  env: { GREETING: "hi", SECRET_KEY_BASE: new Secret("skb") },
  port: 4000,
  size: 1,
};
const fromSecret = (secret: string, name: string) => ({ name, valueFrom: { secretKeyRef: { name: secret, key: name } } });
const bootVolume = { name: "beamstalk-boot", configMap: { name: "beamstalk-boot", defaultMode: 0o555, items: [{ key: "boot", path: "boot" }] } };
const bootMount = { name: "beamstalk-boot", mountPath: "/beamstalk", readOnly: true };
const clusterEnv = [
  { name: "DNS_CLUSTER_QUERY", value: "hello.beamstalk-hello.svc.cluster.local" },
  { name: "LIBCLUSTER_DNS_POLL_QUERY", value: "hello.beamstalk-hello.svc.cluster.local" },
  { name: "LIBCLUSTER_KUBERNETES_SELECTOR", value: "beamstalk.app=hello,beamstalk.kind=replica" },
  { name: "LIBCLUSTER_KUBERNETES_NODE_BASENAME", value: "hello" },
  { name: "LIBCLUSTER_KUBERNETES_SERVICE_NAME", value: "hello" },
  { name: "LIBCLUSTER_KUBERNETES_NAMESPACE", value: "beamstalk-hello" },
];

describe("a replica on Kubernetes", () => {
  test("is a Deployment of one pod: exactly", () => {
    const labels = {
      "beamstalk.managed": "true",
      "beamstalk.app": "hello",
      "beamstalk.release": "3",
      "beamstalk.process": "web",
      "beamstalk.index": "1",
      "beamstalk.port": "4000",
      "beamstalk.replica": "web-1-v3-k3x9ab",
      "beamstalk.kind": "replica",
    };
    expect(deploymentObject(spec, { suffix: "k3x9ab" })).toEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web-1-v3-k3x9ab", namespace: "beamstalk-hello", labels, annotations: { "beamstalk.host": "web-1-k3x9ab.hello" } },
      spec: {
        replicas: 1,
        strategy: { type: "Recreate" },
        selector: { matchLabels: { "beamstalk.replica": "web-1-v3-k3x9ab" } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: "hello",
            hostname: "web-1-k3x9ab",
            subdomain: "hello",
            enableServiceLinks: false,
            restartPolicy: "Always",
            terminationGracePeriodSeconds: 30,
            containers: [
              {
                name: "app",
                image: "beamstalk/run:bookworm",
                imagePullPolicy: "IfNotPresent",
                command: ["/bin/bash", "/beamstalk/boot"],
                args: [],
                env: [
                  { name: "RELEASE_DISTRIBUTION", value: "name" },
                  fromSecret("web-1-v3-k3x9ab-env", "GREETING"),
                  fromSecret("web-1-v3-k3x9ab-env", "SECRET_KEY_BASE"),
                  { name: "PORT", value: "4000" },
                  { name: "DYNO", value: "web.1" },
                  { name: "BEAMSTALK_APP", value: "hello" },
                  { name: "BEAMSTALK_RELEASE", value: "3" },
                  { name: "BEAMSTALK_PROCESS", value: "web" },
                  { name: "BEAMSTALK_INDEX", value: "1" },
                  { name: "BEAMSTALK_COMMAND", value: "bin/hello start" },
                  { name: "RELEASE_NODE", value: "hello@web-1-k3x9ab.hello" },
                  { name: "MY_NODE_NAME", value: "hello@web-1-k3x9ab.hello" },
                  ...clusterEnv,
                  { name: "MY_POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
                  { name: "BEAMSTALK_SLUG_URL", value: "http://10.0.0.1/internal/slugs/hello/3" },
                  fromSecret("web-1-v3-k3x9ab-env", "BEAMSTALK_SLUG_TOKEN"),
                ],
                ports: [
                  { name: "http", containerPort: 4000, protocol: "TCP" },
                  { name: "epmd", containerPort: 4369, protocol: "TCP" },
                  { name: "dist", containerPort: 9100, protocol: "TCP" },
                ],
                resources: { requests: { cpu: "200m", memory: "1024Mi" }, limits: { cpu: "200m", memory: "1024Mi" } },
                volumeMounts: [bootMount],
                securityContext: { allowPrivilegeEscalation: false },
              },
            ],
            volumes: [bootVolume],
          },
        },
      },
    });
  });

  test("the release's env and the slug token are in its Secret only, never in the Deployment", () => {
    expect(envSecretObject("hello", "web-1-v3-k3x9ab", spec.env, spec.slugUrl)).toEqual({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "web-1-v3-k3x9ab-env", namespace: "beamstalk-hello", labels: { "beamstalk.managed": "true", "beamstalk.app": "hello" } },
      type: "Opaque",
      stringData: { GREETING: "hi", SECRET_KEY_BASE: "skb", BEAMSTALK_SLUG_TOKEN: "tok123" },
    });
    const text = JSON.stringify(deploymentObject(spec, { suffix: "k3x9ab" }));
    expect(text).not.toContain("skb");
    expect(text).not.toContain("tok123");
    expect(text).not.toContain('"hi"');
  });

  test("a size is requests and limits alike: 1 = 1 GiB and 200m", () => {
    expect(resourcesFor(0.25)).toEqual({ requests: { cpu: "50m", memory: "256Mi" }, limits: { cpu: "50m", memory: "256Mi" } });
    expect(resourcesFor(2)).toEqual({ requests: { cpu: "400m", memory: "2048Mi" }, limits: { cpu: "400m", memory: "2048Mi" } });
  });

  test("a process type with capitals or '_' makes DNS names; bad input is refused", () => {
    expect(deploymentObject({ ...spec, process: "Big_Worker", index: 2 }, { suffix: "abcd" }).metadata.name).toBe("big-worker-2-v3-abcd");
    expect(() => deploymentObject({ ...spec, slugUrl: undefined } as ReplicaSpec, { suffix: "abcd" })).toThrow(/needs a slug URL/);
    expect(() => deploymentObject(spec, { suffix: "AB" })).toThrow(/bad suffix/);
    expect(() => deploymentObject({ ...spec, size: 0 }, { suffix: "abcd" })).toThrow(/invalid size/);
    expect(() => deploymentObject({ ...spec, process: "web;rm" }, { suffix: "abcd" })).toThrow(/invalid process type/);
    expect(() => deploymentObject({ ...spec, env: { "BAD-NAME": "x" } }, { suffix: "abcd" })).toThrow(/invalid env name/);
    expect(() => deploymentObject({ ...spec, process: "w".repeat(30), index: 10 ** 15, release: 10 ** 15 }, { suffix: "abcdefghijkl" })).toThrow(/is not a DNS label/);
  });
});

describe("a one-off job on Kubernetes", () => {
  const job: JobSpec = { app: "hello", release: 3, image: "beamstalk/run:bookworm", argv: ["bin/hello", "eval", "IO.puts(1); :ok"], slugPath: spec.slugPath, slugUrl: { url: "http://10.0.0.1/internal/slugs/hello/3", token }, env: { DATABASE_URL: new Secret("postgres://x") }, size: 0.5 };

  test("is a bare pod that never restarts, its argv as given (no shell): exactly", () => {
    expect(jobPodObject(job, { suffix: "q1w2e3" })).toEqual({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "run-v3-q1w2e3", namespace: "beamstalk-hello", labels: { "beamstalk.managed": "true", "beamstalk.app": "hello", "beamstalk.release": "3", "beamstalk.kind": "job", "beamstalk.job": "run-v3-q1w2e3" } },
      spec: {
        serviceAccountName: "hello",
        enableServiceLinks: false,
        restartPolicy: "Never",
        terminationGracePeriodSeconds: 10,
        containers: [
          {
            name: "app",
            image: "beamstalk/run:bookworm",
            imagePullPolicy: "IfNotPresent",
            command: ["/bin/bash", "/beamstalk/boot"],
            args: ["--exec", "bin/hello", "eval", "IO.puts(1); :ok"],
            env: [
              { name: "RELEASE_DISTRIBUTION", value: "name" },
              fromSecret("run-v3-q1w2e3-env", "DATABASE_URL"),
              { name: "BEAMSTALK_APP", value: "hello" },
              { name: "BEAMSTALK_RELEASE", value: "3" },
              ...clusterEnv,
              { name: "MY_POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
              { name: "BEAMSTALK_SLUG_URL", value: "http://10.0.0.1/internal/slugs/hello/3" },
              fromSecret("run-v3-q1w2e3-env", "BEAMSTALK_SLUG_TOKEN"),
            ],
            ports: [],
            resources: { requests: { cpu: "100m", memory: "512Mi" }, limits: { cpu: "100m", memory: "512Mi" } },
            volumeMounts: [bootMount],
            securityContext: { allowPrivilegeEscalation: false },
          },
        ],
        volumes: [bootVolume],
      },
    });
  });

  test("bad input is refused", () => {
    expect(() => jobPodObject({ ...job, argv: [] }, { suffix: "abcd" })).toThrow(/argv/);
    expect(() => jobPodObject({ ...job, argv: ["a\0b"] }, { suffix: "abcd" })).toThrow(/NUL/);
    expect(() => jobPodObject({ ...job, size: 65 }, { suffix: "abcd" })).toThrow(/invalid size/);
    expect(() => jobPodObject({ ...job, env: { "1X": "y" } }, { suffix: "abcd" })).toThrow(/invalid env name/);
    expect(() => jobPodObject({ ...job, app: "Nope" }, { suffix: "abcd" })).toThrow();
  });
});
