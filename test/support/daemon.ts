import { appendFileSync, mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { swarmDaemonOptions, testRunner } from "./target.ts";

/** dist/beamstalk, or BEAMSTALK_TEST_BINARY (a binary built elsewhere, e.g. with BEAMSTALK_OUT). */
export const BINARY = process.env.BEAMSTALK_TEST_BINARY || resolve(import.meta.dir, "../../dist/beamstalk");

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `beamstalk-${prefix}-`));
}

export interface RunningDaemon {
  url: string;
  sshPort: number;
  dataDir: string;
  socket: string;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the daemon wrote to stderr so far. */
  log(): string;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

export interface DaemonOptions {
  dataDir?: string;
  /** Further server flags. */
  args?: string[];
  /** Fixed ports (default: HTTP picks a free one, HTTPS is off). */
  httpPort?: number;
  httpsPort?: number;
  /** Added to the daemon's environment (e.g. NODE_EXTRA_CA_CERTS for a private ACME CA). */
  env?: Record<string, string>;
  /** Listen address (default 127.0.0.1; a multi-host test needs one the other hosts reach). */
  bind?: string;
}

/** Boots the compiled binary as `beamstalk server` on a free port with its own data directory. */
export async function startDaemon(options: DaemonOptions = {}): Promise<RunningDaemon> {
  const dataDir = options.dataDir ?? join(tempDir("data"), "data");
  let { httpPort = 0, bind = "127.0.0.1", args = [] } = options;
  // The swarm tier: the same suites on a real multi-host Swarm (target.ts).
  if (testRunner() === "swarm" && !args.includes("--runner")) {
    const swarm = await swarmDaemonOptions(dataDir, options.httpPort);
    httpPort = swarm.port;
    bind = swarm.bind;
    args = [...swarm.args, ...args];
  }
  const ports = ["--http-port", String(httpPort), "--https-port", String(options.httpsPort ?? 0)];
  const proc = Bun.spawn(
    [BINARY, "server", "--data-dir", dataDir, "--bind", bind, ...ports, "--ssh-port", "0", "--base-domain", "apps.test", ...args],
    { stdin: "ignore", stdout: "pipe", stderr: "pipe", ...(options.env ? { env: { ...process.env, ...options.env } } : {}) },
  );
  let log = "";
  const decoder = new TextDecoder();
  // BEAMSTALK_TEST_LOG_DIR keeps each daemon's log after the run, to read what it did.
  const keep = process.env.BEAMSTALK_TEST_LOG_DIR;
  if (keep) mkdirSync(keep, { recursive: true });
  const reader = (async () => {
    for await (const chunk of proc.stderr) {
      const text = decoder.decode(chunk);
      log += text;
      if (keep) appendFileSync(join(keep, `daemon-${basename(dirname(dataDir))}.log`), text);
    }
  })();
  const deadline = Date.now() + 10_000;
  let url: string | undefined;
  while (!url) {
    url = /daemon\.listening .*http=(http:\/\/[\d.:]+)/.exec(log)?.[1];
    if (url) break;
    if (proc.exitCode !== null || Date.now() > deadline) {
      await reader.catch(() => {});
      throw new Error(`daemon did not start (exit ${proc.exitCode}):\n${log}`);
    }
    await Bun.sleep(20);
  }
  return {
    url,
    sshPort: Number(/daemon\.listening .*ssh=(\d+)/.exec(log)?.[1]),
    dataDir,
    socket: join(dataDir, "beamstalk.sock"),
    proc,
    log: () => log,
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null) proc.kill(signal);
      const code = await proc.exited;
      await reader.catch(() => {});
      return code;
    },
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A CLI user: its own HOME (so its own ~/.netrc), and the binary run with argv, never a shell string. */
export class CliUser {
  readonly home: string;

  /** `env` is added to every run (e.g. HTTPS_PROXY and NODE_EXTRA_CA_CERTS to reach a name over HTTPS). */
  constructor(
    readonly url: string,
    readonly env: Record<string, string> = {},
  ) {
    this.home = tempDir("home");
    mkdirSync(join(this.home, "work"));
  }

  async run(args: string[], options: { env?: Record<string, string>; stdin?: string; cwd?: string } = {}): Promise<CliResult> {
    const proc = Bun.spawn([BINARY, ...args], {
      cwd: options.cwd ?? this.home,
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: this.home,
        BEAMSTALK_URL: this.url,
        GIT_CONFIG_NOSYSTEM: "1",
        ...this.env,
        ...options.env,
      },
      stdin: options.stdin === undefined ? "ignore" : new Blob([options.stdin]),
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, stdout, stderr };
  }

  /** Runs and fails the test with the CLI's own words when it exits non-zero. */
  async ok(args: string[], options: { env?: Record<string, string>; stdin?: string; cwd?: string } = {}): Promise<string> {
    const res = await this.run(args, options);
    if (res.code !== 0) throw new Error(`beamstalk ${args[0]} exited ${res.code}: ${res.stderr}`);
    return res.stdout;
  }

  cleanup(): void {
    rmSync(this.home, { recursive: true, force: true });
  }
}
