import type { V1Pod } from "@kubernetes/client-node";
import type { Kube } from "./kube.ts";
import { podLog } from "./logs.ts";
import { currentPod } from "./pods.ts";

/**
 * Waiting for a new replica's pod to boot: the boot script's lines come from
 * the pod's log, failures the kubelet sees (an image it cannot find, a
 * container that exits) from the pod's status. The same verdicts as the
 * Docker and Swarm runners'.
 */

const READY_LINE = "beamstalk-boot: starting process";
const BOOT_PREFIX = "beamstalk-boot: ";
const ERROR_PREFIX = "beamstalk-boot: error: ";
/** Waiting reasons that will not pass by themselves. */
const STUCK = new Set(["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError", "ErrImageNeverPull"]);

export type BootVerdict = { ok: true; pod: V1Pod } | { ok: false; reason: string; output: string[] };

/** What the pod's status alone says: failed (why), or nothing yet. */
export function podFailure(pod: V1Pod | undefined): string | null {
  const status = pod?.status?.containerStatuses?.[0];
  const waiting = status?.state?.waiting;
  if (waiting?.reason && STUCK.has(waiting.reason)) return `the pod cannot start: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""}`;
  const ended = status?.state?.terminated ?? status?.lastState?.terminated;
  if (ended) return `the container exited with code ${ended.exitCode}${ended.reason ? ` (${ended.reason})` : ""}`;
  const unschedulable = pod?.status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "False" && c.reason === "Unschedulable");
  if (unschedulable) return `no node can take the pod: ${unschedulable.message ?? "unschedulable"}`;
  return null;
}

/** The boot script's lines in a log, and its verdict if it gave one. */
export function bootLines(log: string): { output: string[]; ready: boolean; error: string | null } {
  const output = log.split("\n").filter((l) => l.startsWith(BOOT_PREFIX));
  const error = output.find((l) => l.startsWith(ERROR_PREFIX));
  return { output, ready: output.includes(READY_LINE), error: error ? error.slice(ERROR_PREFIX.length) : null };
}

export async function waitForBoot(kube: Kube, namespace: string, selector: string, timeoutMs: number): Promise<BootVerdict> {
  const deadline = Date.now() + timeoutMs;
  let output: string[] = [];
  let pod: V1Pod | undefined;
  while (Date.now() < deadline) {
    const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: selector }).catch(kube.fail(`listing the pods of ${namespace}`));
    pod = currentPod(pods.items);
    const status = pod?.status?.containerStatuses?.[0];
    if (pod && (status?.state?.running || status?.state?.terminated || status?.lastState?.terminated)) {
      const log = await podLog(kube, { namespace, name: pod.metadata!.name! }).catch(() => "");
      const boot = bootLines(log);
      output = boot.output;
      if (boot.error) return { ok: false, reason: boot.error, output };
      if (boot.ready && status?.state?.running && pod.status?.podIP) return { ok: true, pod };
    }
    const failure = podFailure(pod);
    if (failure) return { ok: false, reason: failure, output };
    await Bun.sleep(250);
  }
  const phase = pod?.status?.phase ?? "not created";
  return { ok: false, reason: `the boot script did not start the process within ${timeoutMs} ms (pod ${phase})`, output };
}
