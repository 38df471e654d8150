import { exec, start } from "../lib/exec.ts";
import { forEachLine } from "../lib/lines.ts";

export interface BuildContainerSpec {
  name: string;
  image: string;
  app: string;
  memoryBytes: number;
  maxSlugBytes: number;
  mounts: { source: string; target: string; readOnly: boolean }[];
}

/** Where things sit inside the build container (driver.sh knows the same paths). */
export const CONTAINER_PATHS = {
  build: "/app",
  cache: "/cache",
  env: "/env",
  meta: "/beamstalk/meta",
  buildpacks: "/beamstalk/buildpacks",
  out: "/out",
  previous: "/beamstalk/previous.tar.gz",
} as const;

/** `docker run` argv for the build container: no published ports, memory-capped, named for cleanup. */
export function buildContainerArgv(spec: BuildContainerSpec): string[] {
  const mounts = spec.mounts.flatMap((mount) => {
    if (/[,"\n]/.test(mount.source)) throw new Error(`cannot mount a path holding , " or a newline: ${mount.source}`);
    return ["--mount", `type=bind,source=${mount.source},target=${mount.target}${mount.readOnly ? ",readonly" : ""}`];
  });
  return [
    "docker",
    "run",
    "--name",
    spec.name,
    "--label",
    "beamstalk.role=build",
    "--label",
    `beamstalk.app=${spec.app}`,
    "--memory",
    String(spec.memoryBytes),
    "--memory-swap",
    String(spec.memoryBytes),
    "--pids-limit",
    "4096",
    "--workdir",
    CONTAINER_PATHS.build,
    "--env",
    "STACK=bookworm",
    "--env",
    `BEAMSTALK_MAX_SLUG_BYTES=${spec.maxSlugBytes}`,
    ...mounts,
    "--",
    spec.image,
    "bash",
    `${CONTAINER_PATHS.meta}/driver.sh`,
  ];
}

export interface ContainerRun {
  code: number;
  /** Why the run was stopped early, if it was. */
  stopped: "timeout" | "cancelled" | null;
}

/**
 * Runs the container, streaming each output line; stops it (docker rm -f)
 * on timeout or abort. The caller removes it afterwards either way.
 */
export async function runBuildContainer(
  spec: BuildContainerSpec,
  options: { timeoutMs: number; signal?: AbortSignal; onLine: (line: string) => void },
): Promise<ContainerRun> {
  const proc = start(buildContainerArgv(spec), { stdout: "pipe", stderr: "pipe" });
  let stopped: ContainerRun["stopped"] = null;
  const stop = (why: "timeout" | "cancelled") => {
    if (stopped) return;
    stopped = why;
    void (async () => {
      // The container may not exist yet when this runs: retry until `docker run` has gone.
      while (proc.exitCode === null) {
        await removeContainer(spec.name);
        await Promise.race([proc.exited, Bun.sleep(1000)]);
      }
    })();
  };
  const timer = setTimeout(() => stop("timeout"), options.timeoutMs);
  const onAbort = () => stop("cancelled");
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener("abort", onAbort);
  try {
    await Promise.all([forEachLine(proc.stdout, options.onLine), forEachLine(proc.stderr, options.onLine)]);
    const code = await proc.exited;
    return { code, stopped };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}

export async function removeContainer(name: string): Promise<void> {
  await exec(["docker", "rm", "--force", "--volumes", "--", name]);
}
