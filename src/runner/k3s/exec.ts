import { PassThrough } from "node:stream";
import * as k8s from "@kubernetes/client-node";
import type { ExecOptions, ExecSession, TerminalSize } from "../types.ts";
import { APP_HOME, withTerminalSize } from "../docker/exec.ts";
import { CONTAINER } from "./workload-objects.ts";

/**
 * Exec through the Kubernetes API (a WebSocket to the API server, which the
 * kubelet joins to the container). The API has no user, working directory
 * or environment for an exec, so the argv is wrapped: setpriv drops to the app
 * user, env sets the directory and variables, each value one argv element,
 * never parsed by a shell. The variables given are no secrets (TERM and the
 * like): the replica's secret environment is the container's own and is inherited.
 */

const APP_UID = "1000";

export function execArgv(argv: readonly string[], options: ExecOptions): string[] {
  if (argv.length === 0 || argv.some((arg) => typeof arg !== "string" || arg.includes("\0"))) {
    throw new Error("exec: argv must be a non-empty list of strings without NUL");
  }
  const env = { HOME: APP_HOME, USER: "app", ...(options.env ?? {}) };
  for (const key of Object.keys(env)) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new Error(`exec: bad env name ${key}`);
  const inner = options.tty && options.size ? withTerminalSize(argv, options.size) : [...argv];
  const user = options.user ?? `${APP_UID}:${APP_UID}`;
  const [uid, gid = uid] = user.split(":");
  const drop = uid === "0" || uid === "root" ? [] : ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--"];
  return [...drop, "env", "-C", options.workingDir ?? APP_HOME, ...Object.entries(env).map(([k, v]) => `${k}=${v}`), "--", ...inner];
}

/** The exit code a finished exec's Status carries (NonZeroExitCode names it in its causes). */
export function exitCodeOf(status: k8s.V1Status | undefined): number {
  if (!status) return 255;
  if (status.status === "Success") return 0;
  const cause = status.details?.causes?.find((c) => c.reason === "ExitCode");
  const code = Number(cause?.message);
  return Number.isInteger(code) ? code : 1;
}

/** A stdout the client reads the terminal's size from (rows, columns and 'resize', like a TTY stream). */
class TerminalStream extends PassThrough {
  rows: number;
  columns: number;
  constructor(size: TerminalSize | undefined) {
    super();
    this.rows = size?.rows ?? 24;
    this.columns = size?.cols ?? 80;
  }
}

export async function kubeExec(config: k8s.KubeConfig, pod: { namespace: string; name: string }, argv: readonly string[], options: ExecOptions): Promise<ExecSession> {
  const command = execArgv(argv, options);
  const stdin = new PassThrough();
  const stdout = options.tty ? new TerminalStream(options.size) : new PassThrough();
  const stderr = new PassThrough();
  let status: k8s.V1Status | undefined;
  const ws = await new k8s.Exec(config).exec(pod.namespace, pod.name, CONTAINER, command, stdout, options.tty ? null : stderr, stdin, options.tty, (s) => (status = s));
  const exited = new Promise<number>((done) => {
    ws.on("close", () => {
      stdout.end();
      stderr.end();
      done(exitCodeOf(status));
    });
    ws.on("error", () => done(255));
  });
  if (options.tty) void exited.then(() => stderr.end());
  return {
    stdin,
    stdout,
    stderr,
    resize: async (size) => {
      if (!(stdout instanceof TerminalStream)) return;
      stdout.rows = size.rows;
      stdout.columns = size.cols;
      stdout.emit("resize");
    },
    close: () => ws.close(),
    exited,
  };
}
