import type { Readable } from "node:stream";
import type Docker from "dockerode";
import { logLines } from "../docker/log-lines.ts";
import { type SwarmTask, currentTask } from "./tasks.ts";

/**
 * Waiting for a new replica's boot on whichever host Swarm put it: its boot
 * script's lines come through the manager (service logs), its failures from
 * the task states. The same verdicts as the Docker runner's.
 */

const READY_LINE = "beamstalk-boot: starting process";
const BOOT_PREFIX = "beamstalk-boot: ";
const ERROR_PREFIX = "beamstalk-boot: error: ";

/** Waits until the boot script execs the process, or fails (error line, failed task, timeout). */
export async function waitForBoot(docker: Docker, id: string, timeoutMs: number, tasksOf: (id: string) => Promise<SwarmTask[]>): Promise<{ ok: true } | { ok: false; reason: string; output: string[] }> {
  const output: string[] = [];
  let verdict: { ok: true } | { ok: false; reason: string } | null = null;
  const abort = new AbortController();
  const reading = (async () => {
    // Service logs come through the manager from whichever host runs the task; retry until the task has any.
    while (!verdict && !abort.signal.aborted) {
      const stream = (await serviceLogs(docker, id, { follow: true, stdout: true, stderr: true }).catch(() => null)) as Readable | null;
      if (stream) {
        const stop = () => stream.destroy();
        abort.signal.addEventListener("abort", stop, { once: true });
        try {
          for await (const { line } of logLines(stream)) {
            if (!line.startsWith(BOOT_PREFIX)) continue;
            if (!output.includes(line)) output.push(line);
            if (line === READY_LINE) return void (verdict ??= { ok: true });
            if (line.startsWith(ERROR_PREFIX)) return void (verdict ??= { ok: false, reason: line.slice(ERROR_PREFIX.length) });
          }
        } catch {
          // the stream broke (task replaced): read again
        } finally {
          abort.signal.removeEventListener("abort", stop);
        }
      }
      await Bun.sleep(200);
    }
  })();
  const deadline = Date.now() + timeoutMs;
  try {
    while (!verdict) {
      await Bun.sleep(100);
      if (verdict) break;
      const tasks = await tasksOf(id);
      const failed = tasks.find((t) => t.Status.State === "failed" || t.Status.State === "rejected");
      if (failed && !verdict) {
        await Promise.race([reading, Bun.sleep(1500)]);
        verdict ??= { ok: false, reason: `the task ${failed.Status.State}: ${failed.Status.Err ?? failed.Status.Message ?? "no reason given"}` };
      } else if (Date.now() > deadline) {
        const task = currentTask(tasks);
        verdict = { ok: false, reason: `the boot script did not start the process within ${timeoutMs} ms (task ${task?.Status.State ?? "not scheduled"}${task?.Status.Err ? `: ${task.Status.Err}` : ""})` };
      }
    }
  } finally {
    abort.abort();
  }
  const result = verdict as { ok: true } | { ok: false; reason: string };
  return result.ok ? result : { ...result, output };
}
/** A service's output from every host its tasks ran on, through the manager (dockerode's types leave the promise out). */
export function serviceLogs(docker: Docker, id: string, options: { follow: boolean; stdout: boolean; stderr: boolean; tail?: number }): Promise<Readable | Buffer> {
  return (docker.getService(id) as unknown as { logs(o: object): Promise<Readable | Buffer> }).logs(options);
}
