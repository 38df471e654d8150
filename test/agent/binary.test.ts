import { afterAll, expect, test } from "bun:test";
import { Secret } from "../../src/lib/secret.ts";
import { agentDocker } from "../../src/runner/agent-client.ts";
import { BINARY } from "../support/daemon.ts";
import { tokenFile } from "./support.ts";

/** `beamstalk agent` as the Swarm service runs it: the compiled binary, its flags, its exit. */
const secret = tokenFile();
afterAll(() => secret.remove());

const run = (args: string[]) => {
  const r = Bun.spawnSync([BINARY, ...args], { env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
};

test("it serves the local engine on the address given, and a SIGTERM stops it with exit 0", async () => {
  const proc = Bun.spawn([BINARY, "agent", "--listen", "127.0.0.1:0", "--token-file", secret.path, "--docker-socket", "/var/run/docker.sock"], { stdout: "pipe", stderr: "pipe" });
  try {
    const reader = proc.stderr.getReader();
    let log = "";
    let port = 0;
    for (const deadline = Date.now() + 10_000; port === 0 && Date.now() < deadline; ) {
      const { value, done } = await reader.read();
      if (done) break;
      log += new TextDecoder().decode(value);
      port = Number(/ agent\.listening address=127\.0\.0\.1:(\d+) docker=\/var\/run\/docker\.sock\n/.exec(log)?.[1] ?? 0);
    }
    expect(port).toBeGreaterThan(0);
    const docker = agentDocker({ host: "127.0.0.1", port, token: new Secret(secret.token) });
    expect(String(await docker.ping())).toBe("OK");
    expect((await docker.version()).ApiVersion).toMatch(/^1\.\d+$/);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    for (let r = await reader.read(); !r.done; r = await reader.read()) log += new TextDecoder().decode(r.value);
    expect(log).toContain(" info agent.connection.accepted peer=127.0.0.1:");
    expect(log).toContain(" info agent.shutdown signal=SIGTERM");
    expect(log).not.toContain(secret.token);
  } finally {
    proc.kill("SIGKILL");
  }
});

test("the token comes from its file only: a token flag or argument is refused without being echoed", () => {
  const flag = run(["agent", "--token", "sekrit-value-1234"]);
  expect(flag.code).toBe(2);
  expect(flag.stderr).toContain("--token");
  expect(flag.stderr).not.toContain("sekrit-value-1234");
  const positional = run(["agent", "--token-file", secret.path, "sekrit-value-1234"]);
  expect(positional.code).toBe(2);
  expect(positional.stderr).not.toContain("sekrit-value-1234");
  expect(run(["agent", "--token-file", `${secret.dir}/absent`]).stderr).toContain("cannot read the agent token file");
  expect(run(["agent", "--listen", "7070", "--token-file", secret.path]).code).toBe(2);
});

test("it has its own help and stays out of the CLI's", () => {
  const help = run(["agent", "--help"]);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain("USAGE beamstalk agent");
  for (const flag of ["--listen", "--token-file", "--docker-socket", "0.0.0.0:7070", "/run/secrets/beamstalk-agent-token"]) expect(help.stdout).toContain(flag);
  expect(run(["--help"]).stdout).not.toMatch(/\bagent\b/);
});
