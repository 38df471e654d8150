import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { BINARY, CliUser, type RunningDaemon, startDaemon } from "../support/daemon.ts";

let daemon: RunningDaemon;
let u: CliUser;
beforeAll(async () => {
  daemon = await startDaemon();
  u = new CliUser(daemon.url);
});
afterAll(async () => {
  await daemon?.stop();
  u?.cleanup();
});

/** Runs the binary on a real pseudo-terminal (Python's pty) and answers its prompts. */
async function onTty(args: string[], answers: [string, string][]) {
  const proc = Bun.spawn(["python3", join(import.meta.dir, "../fixtures/on_terminal.py"), BINARY, ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: u.home, BEAMSTALK_URL: daemon.url, TERM: "dumb" },
    stdin: new Blob([JSON.stringify(answers)]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [screen, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  return { screen, code };
}

test("on a terminal, missing email and password are prompted; the password is not echoed", async () => {
  const signup = await onTty(["signup", "--socket", daemon.socket], [["Email: ", "tty@example.com"], ["Password: ", "tty password 1"]]);
  expect(signup.code).toBe(0);
  expect(signup.screen).toContain("Email: tty@example.com");
  expect(signup.screen).not.toContain("tty password 1");
  expect(signup.screen).toContain("Signed up and logged in as tty@example.com");

  const login = await onTty(["login"], [["Email: ", "tty@example.com"], ["Password: ", "tty password 1"]]);
  expect(login.code).toBe(0);
  expect(login.screen).not.toContain("tty password 1");
  expect(login.screen).toContain("Logged in as tty@example.com.");
});
