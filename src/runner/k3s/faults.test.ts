import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BeamstalkError } from "../../lib/errors.ts";
import { createMemoryLogger } from "../../lib/logger.ts";
import { Secret } from "../../lib/secret.ts";
import { NEEDED_RIGHTS, describeRight } from "./access.ts";
import { Kube, kubeError, loadKubeConfig } from "./kube.ts";
import { connectK3s } from "./index.ts";
import { K3sRunner } from "./runner.ts";

/**
 * Fault injection, NOT a contract test: a tiny HTTP server on 127.0.0.1 that
 * answers a few paths the way an API server answers when something is wrong
 * (refused rights, a foreign namespace, a 403 Status), so the runner's error
 * paths can be checked here. It implements no Kubernetes behaviour; the
 * contract suite (test/contract/k3s-runner.test.ts) needs a real cluster.
 */

type Handler = (req: Request, url: URL) => Response | null | Promise<Response | null>;
const dir = mkdtempSync(join(tmpdir(), "beamstalk-k3s-faults-"));
const requests: string[] = [];
let handler: Handler = () => null;
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(req) {
    const url = new URL(req.url);
    requests.push(`${req.method} ${url.pathname}`);
    return (await handler(req, url)) ?? status(404, "NotFound", `the fake answers nothing at ${url.pathname}`);
  },
});

function status(code: number, reason: string, message: string): Response {
  return Response.json({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code }, { status: code });
}

function kubeconfig(serverUrl: string, name = "config"): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server: serverUrl, "insecure-skip-tls-verify": true } }],
      users: [{ name: "u", user: { token: "fake-token" } }],
      contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
      "current-context": "x",
    }),
  );
  return path;
}

const url = () => `http://127.0.0.1:${server.port}`;
const slugPath = join(dir, "slug.tar.gz");
beforeAll(() => writeFileSync(slugPath, Bun.gzipSync(new Uint8Array([1, 2, 3]))));
afterAll(() => {
  server.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<BeamstalkError> {
  const err = await promise.then(() => null, (e) => e);
  expect(err).toBeInstanceOf(BeamstalkError);
  return err as BeamstalkError;
}

/** Answers every SelfSubjectAccessReview: allowed unless the right is in `denied`. */
const reviews = (denied: string[]): Handler => async (req, u) => {
  if (req.method !== "POST" || u.pathname !== "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") return null;
  const body = (await req.json()) as { spec: { resourceAttributes: { verb: string; group: string; resource: string; subresource?: string } } };
  const a = body.spec.resourceAttributes;
  const right = describeRight({ verb: a.verb, group: a.group, resource: a.resource, ...(a.subresource ? { subresource: a.subresource } : {}) });
  return Response.json({ apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectAccessReview", spec: body.spec, status: { allowed: !denied.includes(right) } }, { status: 201 });
};

describe("k3s runner faults (a fake API server for error paths only)", () => {
  test("an unreachable API server: a clear error naming it, at connect", async () => {
    const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    const port = closed.port;
    closed.stop(true);
    const err = await failure(connectK3s({ kubeconfig: kubeconfig(`http://127.0.0.1:${port}`, "closed"), podCidrs: ["10.42.0.0/16"], logger: createMemoryLogger() }));
    expect(err.code).toBe("unreachable");
    expect(err.message).toContain(`the Kubernetes API server at http://127.0.0.1:${port} is not reachable`);
    expect(err.hint).toContain("--kubeconfig");
  });

  test("a kubeconfig that lacks rights: refused at connect, each missing right named", async () => {
    handler = reviews(["create pods/exec", "delete namespaces", "patch networking.k8s.io/networkpolicies"]);
    requests.length = 0;
    const err = await failure(connectK3s({ kubeconfig: kubeconfig(url()), podCidrs: ["10.42.0.0/16"], logger: createMemoryLogger() }));
    expect(err.code).toBe("forbidden");
    expect(err.message).toBe(`the kubeconfig's user on ${url()} lacks 3 rights Beamstalk needs (cluster-wide): delete namespaces, create pods/exec, patch networking.k8s.io/networkpolicies`);
    // It only asked: one review per right, nothing else.
    expect(requests.length).toBe(NEEDED_RIGHTS.length);
    expect(new Set(requests)).toEqual(new Set(["POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]));
  });

  test("a kubeconfig with every right connects", async () => {
    handler = reviews([]);
    const runner = await connectK3s({ kubeconfig: kubeconfig(url()), podCidrs: ["10.42.0.0/16"], logger: createMemoryLogger() });
    expect(runner.slugDelivery).toBe("url");
  });

  test("credentials the server refuses (401)", async () => {
    handler = () => status(401, "Unauthorized", "Unauthorized");
    const err = await failure(connectK3s({ kubeconfig: kubeconfig(url()), podCidrs: ["10.42.0.0/16"], logger: createMemoryLogger() }));
    expect(err.code).toBe("unauthorized");
    expect(err.message).toContain("refused the kubeconfig's credentials");
  });

  test("a kubeconfig that cannot be read, or names no cluster", () => {
    expect(() => loadKubeConfig(join(dir, "missing"))).toThrow(/cannot read the kubeconfig/);
    const empty = join(dir, "empty");
    writeFileSync(empty, JSON.stringify({ apiVersion: "v1", kind: "Config", clusters: [], users: [], contexts: [] }));
    expect(() => loadKubeConfig(empty)).toThrow(/names no current cluster/);
  });

  describe("a namespace that exists and is not Beamstalk's", () => {
    const foreign = { apiVersion: "v1", kind: "Namespace", metadata: { name: "beamstalk-hello", labels: { "kubernetes.io/metadata.name": "beamstalk-hello", team: "data" } }, status: { phase: "Active" } };
    const runner = () => new K3sRunner({ kube: new Kube(loadKubeConfig(kubeconfig(url()))), logger: createMemoryLogger(), podCidrs: ["10.42.0.0/16"] });

    test("is refused by ensureNetwork, start and removeApp, and nothing is written", async () => {
      handler = (req, u) => (req.method === "GET" && u.pathname === "/api/v1/namespaces/beamstalk-hello" ? Response.json(foreign) : null);
      requests.length = 0;
      const r = runner();
      const err = await failure(r.ensureNetwork("hello"));
      expect(err.code).toBe("conflict");
      expect(err.message).toBe("namespace beamstalk-hello exists and is not Beamstalk's for app hello (it lacks the labels beamstalk.managed=true, beamstalk.app=hello)");
      const spec = { app: "hello", release: 1, process: "web", index: 1, image: "beamstalk/run:bookworm", command: "bin/hello start", slugPath, slugUrl: { url: "http://10.0.0.1/s", token: new Secret("tok") }, env: {}, port: 4000, size: 0.25 };
      expect((await failure(r.start(spec))).code).toBe("conflict");
      expect((await failure(r.removeApp("hello"))).code).toBe("conflict");
      expect(requests.length).toBeGreaterThan(0);
      expect(requests.filter((line) => !line.startsWith("GET "))).toEqual([]);
    });

    test("another app's Beamstalk namespace (labelled for another app) is not this app's either", async () => {
      const other = { ...foreign, metadata: { name: "beamstalk-hello", labels: { "beamstalk.managed": "true", "beamstalk.app": "hello2" } } };
      handler = (req, u) => (req.method === "GET" && u.pathname === "/api/v1/namespaces/beamstalk-hello" ? Response.json(other) : null);
      expect((await failure(runner().ensureNetwork("hello"))).message).toContain("is not Beamstalk's for app hello");
    });
  });

  test("a write the API server forbids: its Status message", async () => {
    handler = (req, u) => {
      if (req.method === "GET" && u.pathname === "/api/v1/namespaces/beamstalk-hello") return status(404, "NotFound", 'namespaces "beamstalk-hello" not found');
      if (req.method === "GET" && u.pathname === "/api/v1") return Response.json({ kind: "APIResourceList", groupVersion: "v1", resources: [{ name: "namespaces", singularName: "namespace", namespaced: false, kind: "Namespace", verbs: ["create", "get", "patch"] }] });
      if (req.method === "PATCH") return status(403, "Forbidden", 'namespaces "beamstalk-hello" is forbidden: User "ci" cannot patch resource "namespaces" in API group "" at the cluster scope');
      return null;
    };
    const r = new K3sRunner({ kube: new Kube(loadKubeConfig(kubeconfig(url()))), logger: createMemoryLogger(), podCidrs: ["10.42.0.0/16"] });
    const err = await failure(r.ensureNetwork("hello"));
    expect(err.code).toBe("forbidden");
    expect(err.message).toBe('Kubernetes refused applying Namespace beamstalk-hello: namespaces "beamstalk-hello" is forbidden: User "ci" cannot patch resource "namespaces" in API group "" at the cluster scope');
  });

  test("a Secret value the server quotes back is taken out of the error", () => {
    const token = new Secret("tok-123-secret");
    const err = kubeError({ code: 422, body: JSON.stringify({ message: 'Secret "x" is invalid: data[BEAMSTALK_SLUG_TOKEN]: "tok-123-secret"' }) }, "applying Secret x", "https://k3s:6443", [token]);
    expect(err.message).toBe('Kubernetes refused applying Secret x: Secret "x" is invalid: data[BEAMSTALK_SLUG_TOKEN]: "[REDACTED]"');
  });
});
