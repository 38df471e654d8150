import { PassThrough, type Duplex } from "node:stream";
import type Docker from "dockerode";
import type { ExecOptions, ExecSession, TerminalSize } from "../types.ts";

/** The app user the boot script runs the process as (src/runner/boot.sh), and its home. */
export const APP_USER = "1000:1000";
export const APP_HOME = "/app";

const WATCH_MS = 250;
const OUTPUT_GRACE_MS = 300;

/** The exact dockerode exec-create options for one command (asserted by exec.test.ts). */
export function execSpec(argv: readonly string[], options: ExecOptions): Docker.ExecCreateOptions {
  if (argv.length === 0 || argv.some((arg) => typeof arg !== "string" || arg.includes("\0"))) {
    throw new Error("exec: argv must be a non-empty list of strings without NUL");
  }
  const env = { HOME: APP_HOME, USER: "app", ...(options.env ?? {}) };
  return {
    Cmd: options.tty && options.size ? withTerminalSize(argv, options.size) : [...argv],
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: options.tty,
    Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
    User: options.user ?? APP_USER,
    WorkingDir: options.workingDir ?? APP_HOME,
    Privileged: false,
  };
}

/**
 * Runs argv in a running container over Docker's hijacked exec stream. With a
 * TTY the stream is the terminal (stderr stays empty); without, Docker's
 * multiplexed frames are split into stdout and stderr. Ending `stdin`
 * half-closes the connection: the process reads end-of-file.
 */
export async function dockerExec(docker: Docker, container: Docker.Container, argv: readonly string[], options: ExecOptions): Promise<ExecSession> {
  const exec = await container.exec(execSpec(argv, options));
  const stream = (await exec.start({ hijack: true, stdin: true, Tty: options.tty })) as Duplex;
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  if (options.tty) {
    stream.pipe(stdout);
    stream.on("end", () => stderr.end());
  } else {
    docker.modem.demuxStream(stream, stdout, stderr);
    stream.on("end", () => {
      stdout.end();
      stderr.end();
    });
  }
  stream.on("error", () => {
    stdout.end();
    stderr.end();
  });
  const resize = async (size: TerminalSize) => {
    if (!options.tty) return;
    await exec.resize({ h: clampSize(size.rows), w: clampSize(size.cols) }).catch(() => {});
  };
  if (options.size) await resize(options.size);
  const ended = new Promise<void>((done) => {
    stream.once("close", done);
    stream.once("end", done);
    stream.once("error", () => done());
  });
  // With a TTY, Docker does not always end the hijacked stream when the process
  // exits (seen here in about half of 25 runs). So the exec is also watched:
  // once it has exited and its last output has had time to arrive, the stream is closed.
  let streamDone = false;
  void ended.then(() => (streamDone = true));
  // "Exited" needs an exit code: an exec that has not started yet also reports Running
  // false, and closing its stream then made Docker fail the start with exit 126 and no
  // output (seen under load, as rare failures of ps:rpc and the rpc health check).
  const finished = (async () => {
    while (!streamDone) {
      const info = await exec.inspect().catch(() => null);
      if (!info || (!info.Running && typeof info.ExitCode === "number")) {
        await Promise.race([ended, Bun.sleep(OUTPUT_GRACE_MS)]);
        return;
      }
      await Promise.race([ended, Bun.sleep(WATCH_MS)]);
    }
  })();
  const settled = Promise.race([ended, finished]).then(() => {
    if (streamDone) return;
    stream.destroy();
    stdout.end();
    stderr.end();
  });
  return {
    stdin: stream,
    stdout,
    stderr,
    resize,
    close: () => stream.destroy(),
    exited: settled.then(() => exitCodeOf(exec)),
  };
}

/** Docker may report the exec as running for a moment after its stream ends. */
async function exitCodeOf(exec: Docker.Exec): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const info = await exec.inspect().catch(() => null);
    if (!info) return 255;
    if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) return info.ExitCode;
    await Bun.sleep(50);
  }
  return 255;
}

/**
 * Docker 20.10 cannot give an exec its terminal size at start (ConsoleSize came
 * with API 1.42), and a resize after start races the command. So the size is
 * set inside, by a fixed script; argv stays separate arguments, never parsed.
 */
export function withTerminalSize(argv: readonly string[], size: TerminalSize): string[] {
  const script = 'stty rows "$1" cols "$2" 2>/dev/null; shift 2; exec "$@"';
  return ["/bin/sh", "-c", script, "sh", String(clampSize(size.rows)), String(clampSize(size.cols)), ...argv];
}

function clampSize(n: number): number {
  return Math.min(1000, Math.max(1, Math.round(n) || 1));
}
