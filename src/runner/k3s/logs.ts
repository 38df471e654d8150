import { PassThrough } from "node:stream";
import * as k8s from "@kubernetes/client-node";
import type { LogLine } from "../types.ts";
import { CONTAINER } from "./workload-objects.ts";
import type { Kube } from "./kube.ts";

/**
 * A pod's output through the API server (the kubelet keeps it). Kubernetes
 * merges stdout and stderr into one log, so every line comes as "stdout".
 */

export interface PodRef {
  namespace: string;
  name: string;
}

export function splitLines(text: string): LogLine[] {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.map((line) => ({ stream: "stdout", line }));
}

/** The log written so far (the last `tail` lines). */
export async function podLog(kube: Kube, pod: PodRef, tail?: number): Promise<string> {
  const text = await kube.core
    .readNamespacedPodLog({ name: pod.name, namespace: pod.namespace, container: CONTAINER, ...(tail !== undefined ? { tailLines: tail } : {}) })
    .catch(kube.fail(`reading the log of ${pod.namespace}/${pod.name}`));
  return typeof text === "string" ? text : String(text ?? "");
}

/** Raw bytes of the log as they are written, until the container ends or signal aborts. */
export async function followPodLog(kube: Kube, pod: PodRef, options: { tail?: number; signal?: AbortSignal }): Promise<PassThrough> {
  const out = new PassThrough();
  const abort = await new k8s.Log(kube.config)
    .log(pod.namespace, pod.name, CONTAINER, out, { follow: true, ...(options.tail !== undefined ? { tailLines: options.tail } : {}) })
    .catch(kube.fail(`following the log of ${pod.namespace}/${pod.name}`));
  const stop = () => {
    abort.abort();
    out.end();
  };
  if (options.signal?.aborted) stop();
  options.signal?.addEventListener("abort", stop, { once: true });
  out.on("close", () => options.signal?.removeEventListener("abort", stop));
  return out;
}

export async function* followLines(kube: Kube, pod: PodRef, options: { tail?: number; signal?: AbortSignal }): AsyncGenerator<LogLine> {
  const stream = await followPodLog(kube, pod, options);
  const decoder = new TextDecoder();
  let partial = "";
  try {
    for await (const chunk of stream) {
      const lines = (partial + decoder.decode(chunk as Uint8Array, { stream: true })).split("\n");
      partial = lines.pop()!;
      for (const line of lines) yield { stream: "stdout", line };
    }
  } catch (err) {
    if (!options.signal?.aborted) throw err;
  } finally {
    stream.destroy();
  }
  if (partial) yield { stream: "stdout", line: partial };
}
