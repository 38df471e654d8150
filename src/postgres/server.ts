import { exec, start, type StartOptions } from "../lib/exec.ts";
import { containerName, readyArgv } from "./spec.ts";

export type ContainerStatus = "running" | "restarting" | "exited" | "created" | "paused" | "dead" | "removing" | "missing" | "unreachable";

/**
 * The docker CLI aimed at the engine that holds a database: this host's, or
 * (pg:create --node) another Swarm host's, reached through that host's agent.
 * Which one is only the environment: DOCKER_HOST, and a DOCKER_CONFIG whose
 * config.json carries the agent's token as a header, so the token is in no argv.
 */
export class Engine {
  constructor(
    /** Extra environment for every docker command; empty for this host. */
    readonly env: Record<string, string> = {},
    /** Where it is, for messages: "this host", or the host's name. */
    readonly where = "this host",
  ) {}

  get local(): boolean {
    return this.env.DOCKER_HOST === undefined;
  }

  /** Runs a docker argv; throws with the command's name and its stderr tail (never stdin: it may hold SQL). */
  async run(argv: string[], what: string, options: { stdin?: string; timeoutMs?: number } = {}): Promise<string> {
    const result = await exec(argv, { ...options, env: this.env });
    if (result.code !== 0) throw new Error(`${what} failed (exit ${result.code}): ${tail(result.stderr || result.stdout)}`);
    return result.stdout.trim();
  }

  exec(argv: string[], options: { stdin?: string; timeoutMs?: number } = {}) {
    return exec(argv, { ...options, env: this.env });
  }

  start(argv: string[], options: StartOptions = {}) {
    return start(argv, { ...options, env: { ...options.env, ...this.env } });
  }

  /** What the engine says of the app's server; `unreachable` when the engine itself does not answer. */
  async status(app: string): Promise<{ status: ContainerStatus; id: string | null }> {
    const result = await this.exec(["docker", "container", "inspect", "--format", "{{.State.Status}} {{.Id}}", "--", containerName(app)]);
    if (result.code !== 0) return { status: /no such (container|object)/i.test(result.stderr) ? "missing" : "unreachable", id: null };
    const [status, id] = result.stdout.trim().split(" ");
    return { status: status as ContainerStatus, id: id ?? null };
  }

  /** Waits until the server accepts connections on its socket (initdb'd clusters take a second; crash recovery longer). */
  async waitReady(app: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      const result = await this.exec(readyArgv(app));
      if (result.code === 0) return;
      last = result.stderr.trim();
      await Bun.sleep(200);
    }
    const logs = await this.exec(["docker", "logs", "--tail", "20", "--", containerName(app)]);
    throw new Error(`PostgreSQL for ${app} did not become ready in ${timeoutMs / 1000} s: ${last} ${tail(logs.stderr + logs.stdout)}`);
  }

  /** SIGINT (fast shutdown: a checkpoint, no data lost), then removed. Missing is fine; an engine that does not answer is not. */
  async remove(app: string, graceSeconds = 60): Promise<void> {
    const { status } = await this.status(app);
    if (status === "missing") return;
    if (status === "unreachable") throw new Error(`the Docker engine on ${this.where} does not answer`);
    if (status === "running" || status === "restarting") {
      await this.exec(["docker", "stop", "--time", String(graceSeconds), "--", containerName(app)]);
    }
    const result = await this.exec(["docker", "rm", "--force", "--", containerName(app)]);
    if (result.code !== 0 && !/No such container/i.test(result.stderr)) throw new Error(`removing ${containerName(app)} failed: ${tail(result.stderr)}`);
  }
}

/** This host's engine. */
export const LOCAL_ENGINE = new Engine();

export function tail(text: string, lines = 5): string {
  return text.trim().split("\n").slice(-lines).join("\n").slice(-1000);
}
