import { exec } from "../lib/exec.ts";
import { containerName, readyArgv } from "./spec.ts";

/** Runs a docker argv; throws with the command's name and its stderr tail (never stdin: it may hold SQL). */
export async function docker(argv: string[], what: string, options: { stdin?: string; timeoutMs?: number } = {}): Promise<string> {
  const result = await exec(argv, options);
  if (result.code !== 0) throw new Error(`${what} failed (exit ${result.code}): ${tail(result.stderr || result.stdout)}`);
  return result.stdout.trim();
}

export function tail(text: string, lines = 5): string {
  return text.trim().split("\n").slice(-lines).join("\n").slice(-1000);
}

export type ContainerStatus = "running" | "restarting" | "exited" | "created" | "paused" | "dead" | "removing" | "missing";

export async function containerStatus(app: string): Promise<{ status: ContainerStatus; id: string | null }> {
  const result = await exec(["docker", "container", "inspect", "--format", "{{.State.Status}} {{.Id}}", "--", containerName(app)]);
  if (result.code !== 0) return { status: "missing", id: null };
  const [status, id] = result.stdout.trim().split(" ");
  return { status: status as ContainerStatus, id: id ?? null };
}

/** Waits until the server accepts connections on its socket (initdb'd clusters take a second; crash recovery longer). */
export async function waitReady(app: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    const result = await exec(readyArgv(app));
    if (result.code === 0) return;
    last = result.stderr.trim();
    await Bun.sleep(200);
  }
  const logs = await exec(["docker", "logs", "--tail", "20", "--", containerName(app)]);
  throw new Error(`PostgreSQL for ${app} did not become ready in ${timeoutMs / 1000} s: ${last} ${tail(logs.stderr + logs.stdout)}`);
}

/** SIGINT (fast shutdown: a checkpoint, no data lost), then removed. Missing is fine. */
export async function removeContainer(app: string, graceSeconds = 60): Promise<void> {
  const { status } = await containerStatus(app);
  if (status === "missing") return;
  if (status === "running" || status === "restarting") {
    await exec(["docker", "stop", "--time", String(graceSeconds), "--", containerName(app)]);
  }
  const result = await exec(["docker", "rm", "--force", "--", containerName(app)]);
  if (result.code !== 0 && !/No such container/i.test(result.stderr)) throw new Error(`removing ${containerName(app)} failed: ${tail(result.stderr)}`);
}
