import { describe, expect, test } from "bun:test";
import { Service } from "kubernetes-models/v1/Service";
import { appObjects, networkPolicyObject, validated } from "./app-objects.ts";
import { namespaceName, parseReplicaId, replicaId } from "./names.ts";

const labels = { "beamstalk.managed": "true", "beamstalk.app": "hello" };
const meta = (name: string) => ({ name, namespace: "beamstalk-hello", labels });

describe("an app's objects on Kubernetes", () => {
  test("namespace, service account, libcluster Role and binding, headless Service, NetworkPolicy, boot script: exactly", () => {
    expect(appObjects("hello", { podCidrs: ["10.42.0.0/16"], bootScript: "#!/bin/bash\necho boot\n" })).toEqual([
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "beamstalk-hello", labels } },
      { apiVersion: "v1", kind: "ServiceAccount", metadata: meta("hello"), automountServiceAccountToken: true },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: meta("libcluster"),
        rules: [
          { apiGroups: [""], resources: ["endpoints", "pods"], verbs: ["get", "list", "watch"] },
          { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
        ],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: meta("libcluster"),
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "libcluster" },
        subjects: [{ kind: "ServiceAccount", name: "hello", namespace: "beamstalk-hello" }],
      },
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: meta("hello"),
        spec: { clusterIP: "None", publishNotReadyAddresses: true, selector: { "beamstalk.managed": "true", "beamstalk.app": "hello", "beamstalk.kind": "replica" } },
      },
      {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: meta("beamstalk-isolation"),
        spec: {
          podSelector: {},
          policyTypes: ["Ingress"],
          ingress: [{ from: [{ podSelector: {} }] }, { from: [{ ipBlock: { cidr: "0.0.0.0/0", except: ["10.42.0.0/16"] } }] }],
        },
      },
      { apiVersion: "v1", kind: "ConfigMap", metadata: meta("beamstalk-boot"), data: { boot: "#!/bin/bash\necho boot\n" } },
    ]);
  });

  test("router addresses inside the pod network are admitted too, each as an ipBlock of its own", () => {
    expect(networkPolicyObject("hello", ["10.42.0.0/16"], {}, ["10.42.1.0/32", "10.42.2.0/32"]).spec).toEqual({
      podSelector: {},
      policyTypes: ["Ingress"],
      ingress: [
        { from: [{ podSelector: {} }] },
        { from: [{ ipBlock: { cidr: "0.0.0.0/0", except: ["10.42.0.0/16"] } }, { ipBlock: { cidr: "10.42.1.0/32" } }, { ipBlock: { cidr: "10.42.2.0/32" } }] },
      ],
    });
  });

  test("extra labels (an installation id) go on every object; Beamstalk's own win", () => {
    const objects = appObjects("hello", { podCidrs: ["10.42.0.0/16"], bootScript: "x", labels: { "beamstalk.test": "t1", "beamstalk.app": "other" } });
    for (const o of objects) expect(o.metadata.labels).toEqual({ "beamstalk.test": "t1", "beamstalk.managed": "true", "beamstalk.app": "hello" });
  });

  test("names: namespace per app (long names cut and hashed), ids carry the app", () => {
    expect(namespaceName("hello")).toBe("beamstalk-hello");
    const long = `a${"b".repeat(60)}`;
    expect(namespaceName(long)).toMatch(/^beamstalk-ab{43}-[0-9a-f]{8}$/);
    expect(namespaceName(long).length).toBeLessThanOrEqual(63);
    expect(replicaId("hello", "web-1-v3-k3x9ab")).toBe("hello.web-1-v3-k3x9ab");
    expect(parseReplicaId("hello.web-1-v3-k3x9ab")).toEqual({ app: "hello", deployment: "web-1-v3-k3x9ab" });
    expect(parseReplicaId("0a1b2c3d4e5f")).toBeNull();
    expect(parseReplicaId("hello.Bad_Name")).toBeNull();
  });

  test("bad input is refused before anything is sent", () => {
    expect(() => appObjects("Hello", { podCidrs: ["10.42.0.0/16"], bootScript: "x" })).toThrow(/invalid app name|app name/i);
    // A valid Beamstalk name that is no DNS label (trailing '-') cannot name a Service.
    expect(() => appObjects("hello-", { podCidrs: ["10.42.0.0/16"], bootScript: "x" })).toThrow(/is not a DNS label/);
    expect(() => networkPolicyObject("hello", [])).toThrow(/pod CIDR/);
    expect(() => networkPolicyObject("hello", ["10.42.0.0"])).toThrow(/is not a CIDR/);
    expect(() => networkPolicyObject("hello", ["10.42.0.0/16"], {}, ["router"])).toThrow('"router" is not a CIDR');
  });

  test("the schemas are checked: a wrongly typed field fails with the schema's complaint", () => {
    const bad = { apiVersion: "v1", kind: "Service", metadata: { name: "x" }, spec: { ports: [{ port: "http" }] } };
    expect(() => validated(bad, Service)).toThrow("invalid Service x: data/spec/ports/0/port must be integer");
    const unknownType = { apiVersion: "v1", kind: "Service", metadata: { name: "x" }, spec: { clusterIP: 7 } };
    expect(() => validated(unknownType, Service)).toThrow(/invalid Service x: data\/spec\/clusterIP must be string/);
  });
});
