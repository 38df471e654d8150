import { availableParallelism } from "node:os";
import type { Subprocess } from "bun";

/** Busy-loops until its deadline (argv[1], ms since the epoch), then exits by itself. */
const BURN = "const end = Number(process.argv[1]); let x = 0; while (Date.now() < end) x++;";

export interface CpuLoad {
  /** Busy processes started (one per core times perCore). */
  readonly workers: number;
  /** Ends the load now (it also ends by itself at its deadline); idempotent. */
  stop(): Promise<void>;
}

/**
 * Holds every core of the host busy, the way a loaded host is: perCore
 * processes per core at normal priority, each bounded by maxSeconds so a test
 * that dies never leaves load behind. Only the PIDs started here are ever killed.
 */
export function startCpuLoad(options: { perCore?: number; maxSeconds: number }): CpuLoad {
  const workers = availableParallelism() * (options.perCore ?? 1);
  const deadline = String(Date.now() + options.maxSeconds * 1000);
  const procs: Subprocess[] = Array.from({ length: workers }, () =>
    Bun.spawn([process.execPath, "-e", BURN, deadline], { stdin: "ignore", stdout: "ignore", stderr: "ignore" }),
  );
  let stopping: Promise<void> | undefined;
  return {
    workers,
    stop() {
      stopping ??= (async () => {
        for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
        await Promise.all(procs.map((p) => p.exited));
      })();
      return stopping;
    },
  };
}

/** Seconds of CPU the host's cores spent busy (user+nice+system) since boot, from /proc/stat. */
export async function busyCpuSeconds(): Promise<number> {
  const [cpu] = (await Bun.file("/proc/stat").text()).split("\n");
  const [user = 0, nice = 0, system = 0] = cpu!.trim().split(/\s+/).slice(1, 4).map(Number);
  return (user + nice + system) / 100;
}
