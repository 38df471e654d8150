import type { Logger } from "../../lib/logger.ts";
import { BootFilter } from "../docker/job-output.ts";
import { randomSuffix, secretsOf } from "../docker/engine.ts";
import type { JobOptions, JobResult, JobSpec } from "../types.ts";
import type { Kube } from "./kube.ts";
import { followPodLog } from "./logs.ts";
import { envSecretName, namespaceName } from "./names.ts";
import { envSecretObject, jobPodObject } from "./workload-objects.ts";

/**
 * A one-off job as a bare pod (restartPolicy Never) in the app's namespace:
 * created, its log followed (the boot script's lines left out), its exit code
 * read from the pod's status, and the pod and its Secret removed, also on
 * timeout and abort. Not a Kubernetes Job: a Job retries and outlives its
 * caller, and `beamstalk run` wants one attempt that ends with the command.
 */

const START_TIMEOUT_MS = 120_000;

export async function runPodJob(kube: Kube, logger: Logger, spec: JobSpec, options: JobOptions & { labels?: Record<string, string> }): Promise<JobResult> {
  const suffix = randomSuffix();
  const pod = jobPodObject(spec, { suffix, ...(options.labels ? { labels: options.labels } : {}) });
  const namespace = namespaceName(spec.app);
  const name = pod.metadata.name;
  const ref = { namespace, name };
  const secrets = secretsOf(spec);
  let timedOut = false;
  let killed = false;
  const kill = async () => {
    killed = true;
    await kube.gone(kube.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 10 }), `removing job pod ${name}`).catch(() => {});
  };
  const timer = setTimeout(() => {
    timedOut = true;
    void kill();
  }, options.timeoutMs);
  const onAbort = () => void kill();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const began = performance.now();
  try {
    await kube.apply(envSecretObject(spec.app, name, spec.env, spec.slugUrl, options.labels), secrets);
    await kube.apply(pod, secrets);
    logger.info("runner.job.started", { app: spec.app, release: spec.release, name });
    await untilStarted(kube, ref, () => killed);
    const filter = new BootFilter(options.onOutput);
    if (!killed) {
      const stream = await followPodLog(kube, ref, {});
      for await (const chunk of stream) filter.push(filter.started ? "stdout" : "stderr", chunk as Uint8Array);
      filter.flush();
    }
    const exitCode = await exitCodeOf(kube, ref, () => killed);
    logger.info("runner.job.finished", { app: spec.app, name, exit_code: exitCode, timed_out: timedOut, ms: Math.round(performance.now() - began) });
    return { exitCode, timedOut };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    await kube.gone(kube.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }), `removing job pod ${name}`).catch(() => {});
    await kube.gone(kube.core.deleteNamespacedSecret({ name: envSecretName(name), namespace }), `removing the secret of ${name}`).catch(() => {});
  }
}

async function untilStarted(kube: Kube, ref: { namespace: string; name: string }, stopped: () => boolean): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!stopped() && Date.now() < deadline) {
    const pod = await kube.orNull(kube.core.readNamespacedPod(ref), `reading job pod ${ref.name}`);
    const state = pod?.status?.containerStatuses?.[0]?.state;
    if (!pod || state?.running || state?.terminated) return;
    const waiting = state?.waiting?.reason;
    if (waiting && /ErrImage|ImagePullBackOff|InvalidImageName|CreateContainer/.test(waiting)) throw new Error(`the job pod cannot start: ${waiting}`);
    await Bun.sleep(250);
  }
}

/** The container's exit code once it has one; a pod that vanished (killed) counts as SIGKILL (137). */
async function exitCodeOf(kube: Kube, ref: { namespace: string; name: string }, killed: () => boolean): Promise<number> {
  for (let i = 0; i < 240; i++) {
    const pod = await kube.orNull(kube.core.readNamespacedPod(ref), `reading job pod ${ref.name}`);
    const ended = pod?.status?.containerStatuses?.[0]?.state?.terminated;
    if (ended) return ended.exitCode;
    if (!pod || pod.metadata?.deletionTimestamp) {
      if (killed()) return 137;
      if (!pod) return 137;
    }
    await Bun.sleep(250);
  }
  return 255;
}
