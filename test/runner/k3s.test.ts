import { afterAll, test } from "bun:test";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import { Secret } from "../../src/lib/secret.ts";
import { Kube, loadKubeConfig } from "../../src/runner/k3s/kube.ts";
import { namespaceName, parseReplicaId } from "../../src/runner/k3s/names.ts";
import { K3sRunner, bytesOf, nanoCoresOf } from "../../src/runner/k3s/runner.ts";
import { internalServiceName } from "../../src/runner/k3s/workload-objects.ts";
import { runnerContract } from "../contract/runner.contract.ts";

/**
 * The runner contract against a REAL Kubernetes cluster (k3s or any other),
 * run only when BEAMSTALK_TEST_KUBECONFIG names its kubeconfig. None can run
 * on Beamstalk's CI machines (no k3s, kube-apiserver or kubelet in Debian or
 * on npm, no image to pull), so there this file skips and says so; the
 * runner's objects and error paths are unit-tested in src/runner/k3s/.
 *
 * What the cluster and this machine need:
 *  - the run image on every node: `docker save beamstalk/run:bookworm | k3s ctr images import -`
 *    (or BEAMSTALK_TEST_K3S_IMAGE naming one the nodes can pull);
 *  - this machine routes to pod IPs (run it on a k3s node, or add a route), as the router does;
 *  - BEAMSTALK_TEST_SLUG_HOST: this machine's address as pods reach it (the slugs are served from here);
 *  - BEAMSTALK_TEST_K3S_POD_CIDR when the pod network is not k3s's 10.42.0.0/16;
 *  - a CNI that enforces NetworkPolicy (k3s's embedded one does) for the isolation test.
 */
const KUBECONFIG = process.env.BEAMSTALK_TEST_KUBECONFIG;

if (!KUBECONFIG) {
  test.skip("k3s runner contract: skipped, no cluster (set BEAMSTALK_TEST_KUBECONFIG to a real cluster's kubeconfig; see this file)", () => {});
} else {
  const slugHost = process.env.BEAMSTALK_TEST_SLUG_HOST;
  if (!slugHost) throw new Error("BEAMSTALK_TEST_SLUG_HOST must be this machine's address as the cluster's pods reach it");
  const IMAGE = process.env.BEAMSTALK_TEST_K3S_IMAGE ?? "beamstalk/run:bookworm";
  const RUN = `k3${Math.random().toString(36).slice(2, 8)}`;
  const logger = createMemoryLogger();
  const kube = new Kube(loadKubeConfig(KUBECONFIG));
  const slugToken = new Secret(crypto.randomUUID());
  const slugServer = Bun.serve({
    hostname: slugHost,
    port: 0,
    fetch(req) {
      if (req.headers.get("authorization") !== `Bearer ${slugToken.reveal()}`) return new Response("no", { status: 404 });
      return new Response(Bun.file(decodeURIComponent(new URL(req.url).pathname.slice("/slug/".length))));
    },
  });
  afterAll(() => slugServer.stop(true));
  const podCidrs = (process.env.BEAMSTALK_TEST_K3S_POD_CIDR ?? "10.42.0.0/16").split(",");
  const makeRunner = () => new K3sRunner({ kube, logger, podCidrs, labels: { "beamstalk.test": RUN }, bootTimeoutMs: 90_000, pollMs: 500 });

  runnerContract("k3s", async () => ({ runner: makeRunner(), cleanup: async () => {} }), {
    image: IMAGE,
    appPrefix: RUN,
    logLines: () => logger.lines,
    limits: async (id) => {
      const ref = parseReplicaId(id)!;
      const d = await kube.apps.readNamespacedDeployment({ name: ref.deployment, namespace: namespaceName(ref.app) });
      const limits = d.spec?.template.spec?.containers[0]?.resources?.limits ?? {};
      return { memoryBytes: bytesOf(limits.memory), nanoCpus: nanoCoresOf(limits.cpu) };
    },
    leftovers: async (app) => {
      const ns = await kube.core.readNamespace({ name: namespaceName(app) }).catch(() => null);
      return ns ? [`namespace ${ns.metadata?.name} (${ns.status?.phase})`] : [];
    },
    slugUrl: (slugPath) => ({ url: `http://${slugHost}:${slugServer.port}/slug/${encodeURIComponent(slugPath)}`, token: slugToken }),
    internalName: internalServiceName,
  });
}
