import type { Readable } from "node:stream";
import type Docker from "dockerode";
import type { Logger } from "../../lib/logger.ts";
import type { JobOptions, JobResult, JobSpec } from "../types.ts";
import { BootFilter, frames } from "./job-output.ts";
import { JOB_KILL_GRACE_SECONDS, jobContainerSpec, jobFilters } from "./job-spec.ts";

export interface JobEngine {
  docker: Docker;
  logger: Logger;
  labels: Record<string, string>;
  bootScriptPath: string;
  suffix: string;
}

/** How long the output may trail the exit before it is cut (the engine flushes the attached stream). */
const OUTPUT_GRACE_MS = 10_000;

/**
 * Runs one job container to its end: create, start, stream its output, wait
 * for its exit code; kills it on timeout or abort; always removes it. The
 * argv is logged by its first word only (arguments may hold secrets).
 */
export async function runJobContainer(engine: JobEngine, spec: JobSpec, options: JobOptions): Promise<JobResult> {
  const body = jobContainerSpec(spec, { bootScriptPath: engine.bootScriptPath, suffix: engine.suffix, labels: engine.labels });
  const what = { app: spec.app, release: spec.release, name: body.name, command: spec.argv[0]!.slice(0, 80) };
  engine.logger.info("runner.job.starting", what);
  const began = performance.now();
  const container = await engine.docker.createContainer(body);
  let timedOut = false;
  let stopWanted = false;
  let stopping: Promise<unknown> = Promise.resolve();
  let started = false;
  const kill = () => {
    stopWanted = true;
    if (started) stopping = container.stop({ t: JOB_KILL_GRACE_SECONDS }).catch(() => {});
  };
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, options.timeoutMs);
  options.signal?.addEventListener("abort", kill, { once: true });
  if (options.signal?.aborted) stopWanted = true;
  let stream: Readable | undefined;
  try {
    // Attached before it starts, straight to its stdio: `logs --follow` can miss a last partial line.
    stream = (await container.attach({ stream: true, stdout: true, stderr: true, logs: false })) as unknown as Readable;
    const filter = new BootFilter(options.onOutput);
    const reading = (async () => {
      for await (const frame of frames(stream as AsyncIterable<Uint8Array>)) filter.push(frame.stream, frame.bytes);
      filter.flush();
    })().catch(() => {});
    await container.start();
    started = true;
    if (stopWanted) kill();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    await Promise.race([reading, Bun.sleep(OUTPUT_GRACE_MS)]);
    const result = { exitCode: StatusCode, timedOut };
    engine.logger.info("runner.job.finished", { ...what, exit: StatusCode, timed_out: timedOut, aborted: options.signal?.aborted ?? false, ms: Math.round(performance.now() - began) });
    return result;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", kill);
    stream?.destroy();
    await stopping;
    await container.remove({ force: true }).catch((err) => engine.logger.warn("runner.job.remove_failed", { name: body.name, error: (err as Error).message }));
  }
}

/** Kills and removes an app's jobs (apps:destroy, before its network goes). */
export async function removeJobs(docker: Docker, app: string, labels: Record<string, string>): Promise<number> {
  const jobs = await docker.listContainers({ all: true, filters: { label: jobFilters(app, labels) } });
  await Promise.all(jobs.map((job) => docker.getContainer(job.Id).remove({ force: true }).catch(() => {})));
  return jobs.length;
}
