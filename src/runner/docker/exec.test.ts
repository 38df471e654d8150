import { expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import type Docker from "dockerode";
import { dockerExec, execSpec } from "./exec.ts";

test("the exec body: argv as given, the app user in /app, env added", () => {
  expect(execSpec(["printf", "%s", "$(id)"], { tty: false, env: { A: "b c" } })).toEqual({
    Cmd: ["printf", "%s", "$(id)"],
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    Env: ["HOME=/app", "USER=app", "A=b c"],
    User: "1000:1000",
    WorkingDir: "/app",
    Privileged: false,
  });
  expect(execSpec(["id"], { tty: true, user: "0", workingDir: "/" })).toMatchObject({ Tty: true, User: "0", WorkingDir: "/" });
  expect(execSpec(["bash", "-l"], { tty: true, size: { rows: 33, cols: 101 } }).Cmd).toEqual([
    "/bin/sh",
    "-c",
    'stty rows "$1" cols "$2" 2>/dev/null; shift 2; exec "$@"',
    "sh",
    "33",
    "101",
    "bash",
    "-l",
  ]);
  expect(() => execSpec([], { tty: false })).toThrow(/argv/);
  expect(() => execSpec(["a\0b"], { tty: false })).toThrow(/argv/);
});

test("an exec that has not started yet is not taken for one that ended: its stream stays open and its output arrives", async () => {
  // A stand-in for dockerode's exec (the start race cannot be forced on a real engine):
  // inspect says "not running, no exit code" until the process starts, as Docker does.
  const stream = new PassThrough();
  let phase: "created" | "running" | "exited" = "created";
  let destroyed = false;
  stream.on("close", () => (destroyed = true));
  const exec = {
    start: async () => stream,
    inspect: async () => ({ Running: phase === "running", ExitCode: phase === "exited" ? 0 : null }),
    resize: async () => {},
  };
  const container = { exec: async () => exec } as unknown as Docker.Container;
  const docker = { modem: { demuxStream: (s: PassThrough, out: PassThrough) => s.pipe(out) } } as unknown as Docker;
  const session = await dockerExec(docker, container, ["true"], { tty: true });
  const chunks: Buffer[] = [];
  session.stdout.on("data", (c: Buffer) => chunks.push(c));
  await Bun.sleep(1200); // several watch rounds while "created"
  expect(destroyed).toBe(false);
  phase = "running";
  stream.write("late output\n");
  await Bun.sleep(300);
  phase = "exited";
  stream.end();
  expect(await session.exited).toBe(0);
  expect(Buffer.concat(chunks).toString()).toBe("late output\n");
});
