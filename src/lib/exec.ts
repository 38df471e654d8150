/**
 * The one place that spawns processes. Commands are argv arrays, never shell
 * strings; user input reaches a process only as its own argv element.
 */
export interface ExecOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  stdin?: string | Uint8Array;
  timeoutMs?: number;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  if (argv.length === 0) throw new Error("exec: empty argv");
  const proc = Bun.spawn([...argv], {
    cwd: options.cwd,
    env: options.env ? { ...process.env, ...options.env } : process.env,
    stdin: options.stdin === undefined ? "ignore" : new Blob([options.stdin]),
    stdout: "pipe",
    stderr: "pipe",
    timeout: options.timeoutMs,
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

export interface StartOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Replace the environment instead of extending process.env. */
  cleanEnv?: boolean;
  stdin?: "pipe" | "ignore" | "inherit" | ReadableStream | Blob;
  stdout?: "pipe" | "ignore" | "inherit";
  stderr?: "pipe" | "ignore" | "inherit";
  /** Its own process group, so `killGroup` ends it with every child it started. */
  detached?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Starts a process and hands back Bun's Subprocess, for callers that stream
 * (git's smart protocol, build output). Same rule: argv only, no shell.
 */
export function start(argv: readonly string[], options: StartOptions = {}) {
  if (argv.length === 0) throw new Error("start: empty argv");
  const env = options.cleanEnv ? options.env : { ...process.env, ...options.env };
  return Bun.spawn([...argv], {
    cwd: options.cwd,
    env: env as Record<string, string>,
    stdin: options.stdin ?? "ignore",
    stdout: options.stdout ?? "pipe",
    stderr: options.stderr ?? "pipe",
    timeout: options.timeoutMs,
    signal: options.signal,
    ...(options.detached ? { detached: true } : {}),
  });
}

/** Ends a process started with `detached` and everything in its group (a git server and the hook it runs, say). */
export function killGroup(pid: number, signal: NodeJS.Signals = "SIGTERM"): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // gone already
  }
}
