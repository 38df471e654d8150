import { expect, test } from "bun:test";
import { execSpec } from "./exec.ts";

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
