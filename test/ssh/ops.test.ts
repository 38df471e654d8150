import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { formatOpsCommand } from "../../src/ssh/ops-command.ts";
import { APP, createOpsFixture, OTHER_APP, owner, collaborator, type OpsFixture, RUN } from "./ops-fixture.ts";

/**
 * Operating running apps over SSH, end to end: the system OpenSSH client, the
 * SSH server, DockerRunner.exec and a real Elixir release in two replicas.
 */
let fx: OpsFixture;
const T = 60_000;
const cmd = (...argv: string[]) => formatOpsCommand(argv);
/** web.1's node: `<app>@<its IP>`, as the boot script names it. */
const node1 = () => `${APP}@${fx.replicas[0]!.address.host}`;

beforeAll(async () => {
  fx = await createOpsFixture();
}, 300_000);

afterAll(async () => {
  await fx?.stop();
});

/** Runs `ssh -tt` with a pty, feeding `input` pieces once `waitFor` shows up in the output. */
async function interactive(args: string[], steps: { waitFor: RegExp; send: string }[], timeoutMs = 30_000) {
  const proc = Bun.spawn([...fx.sshArgs("owner", ["-tt"]), ...args], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  let out = "";
  const reading = (async () => {
    for await (const chunk of proc.stdout) out += Buffer.from(chunk).toString("utf8");
  })();
  const timer = setTimeout(() => proc.kill(), timeoutMs);
  try {
    for (const step of steps) {
      for (let i = 0; i < timeoutMs / 50 && !step.waitFor.test(out); i++) await Bun.sleep(50);
      if (!step.waitFor.test(out)) throw new Error(`never saw ${step.waitFor} in: ${out}`);
      proc.stdin.write(step.send);
      proc.stdin.flush();
    }
    const code = await proc.exited;
    await reading;
    return { code, out: out.replaceAll("\r", ""), stderr: await new Response(proc.stderr).text() };
  } finally {
    clearTimeout(timer);
  }
}

describe("a shell in a replica (ssh APP [REPLICA])", () => {
  test("runs inside the container as uid 1000 in /app; the host's files are not there", async () => {
    const script = [
      "hostname", "id -u", "echo $HOME", "pwd", "test -f /app/bin/hello && echo release-here",
      "test -e /work/main/package.json && echo host-files || echo no-host-files", "exit 4",
    ].join("\n");
    const res = await fx.runSsh("owner", [cmd("ssh", APP)], { stdin: script + "\n" });
    expect(res.stdout.trim().split("\n")).toEqual([fx.replicas[0]!.hostname, "1000", "/app", "/app", "release-here", "no-host-files"]);
    expect(res.code).toBe(4);
  }, T);

  test("picks the named replica; the word form works too", async () => {
    const json = await fx.runSsh("collaborator", [cmd("ssh", APP, "web.2")], { stdin: "hostname\n" });
    expect(json.stdout).toBe(`${fx.replicas[1]!.hostname}\n`);
    const words = await fx.runSsh("owner", [`ssh ${APP} web.2`], { stdin: "hostname\n" });
    expect(words.stdout).toBe(`${fx.replicas[1]!.hostname}\n`);
    const missing = await fx.runSsh("owner", [cmd("ssh", APP, "web.9")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`app ${APP} has no running replica web.9; running: web.1, web.2`);
  }, T);

  test("with a pty (ssh -tt): a login shell on a terminal, window size passed, exit status back", async () => {
    const res = await interactive([cmd("ssh", APP)], [
      { waitFor: /\$ $/m, send: "tty >/dev/null && echo ON-A-TTY; stty size; echo TERM=$TERM\n" },
      { waitFor: /TERM=\S+/, send: "exit 5\n" },
    ]);
    expect(res.out).toContain("ON-A-TTY");
    expect(res.out).toMatch(/^\d+ \d+$/m);
    expect(res.code).toBe(5);
  }, T);
});

describe("the release's own commands", () => {
  test("eval runs in a fresh VM and its output streams back", async () => {
    const res = await fx.runSsh("owner", [cmd("eval", APP, "IO.puts(1+1)")]);
    expect(res).toEqual({ code: 0, stdout: "2\n", stderr: "" });
  }, T);

  test("rpc runs on the running node", async () => {
    const res = await fx.runSsh("collaborator", [cmd("rpc", APP, "IO.puts(node())")]);
    expect(res.stdout).toBe(`${node1()}\n`);
    expect(res.code).toBe(0);
  }, T);

  test("an expression with quotes, spaces and $(id) arrives intact (JSON and word forms)", async () => {
    const text = `it's "quoted" $(id) \`id\` a  b; id | cat * \\ ünï`;
    const expr = `IO.puts(${JSON.stringify(text).replaceAll("#", "\\#")})`;
    const json = await fx.runSsh("owner", [cmd("eval", APP, expr)]);
    expect(json.stdout).toBe(text + "\n");
    expect(json.code).toBe(0);
    const words = await fx.runSsh("owner", [`rpc ${APP} ${expr}`]);
    expect(words.stdout).toBe(text + "\n");
  }, T);

  test("the exit status passes through; errors go to stderr", async () => {
    const halt = await fx.runSsh("owner", [cmd("eval", APP, "System.halt(3)")]);
    expect(halt.code).toBe(3);
    const boom = await fx.runSsh("owner", [cmd("eval", APP, `raise "boom"`)]);
    expect(boom.code).toBe(1);
    expect(boom.stderr).toContain("boom");
  }, T);

  test("console attaches to the running node on a pty", async () => {
    const res = await interactive([cmd("console", APP)], [
      { waitFor: /iex\(.*\)\d+>/, send: ":erlang.node()\n" },
      { waitFor: new RegExp(`:"${node1().replaceAll(".", "\\.")}"`), send: "\x07" },
      { waitFor: /User switch command/, send: "q\n" },
    ]);
    expect(res.out).toContain(`:"${node1()}"`);
    expect(res.code).toBe(0);
    // the node it attached to is still serving
    const still = await fx.runSsh("owner", [cmd("rpc", APP, "IO.puts(:up)")]);
    expect(still.stdout).toBe("up\n");
  }, T);

  test("console without a pty is refused with a hint, nothing recorded", async () => {
    const before = fx.activity.length;
    const res = await fx.runSsh("owner", [cmd("console", APP)], { stdin: ":erlang.node()\n" });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("console needs a terminal: ssh -t");
    expect(fx.activity.length).toBe(before);
  }, T);

  test("migrate runs <App>.Release.migrate/0 when the release defines it", async () => {
    const res = await fx.runSsh("owner", [cmd("migrate", APP)]);
    expect(res.stdout).toBe("Running Hello.Release.migrate/0\nmigrated by Hello.Release.migrate/0 for hello\nMigrations done\n");
    expect(res.code).toBe(0);
  }, T);

  test("migrate with --migration-app and no such Release module nor Ecto: a clear error, exit 1", async () => {
    const res = await fx.runSsh("owner", [cmd("migrate", APP, "--migration-app", "other_app")]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("other_app defines no OtherApp.Release.migrate/0 and the release has no Ecto");
    const words = await fx.runSsh("owner", [`migrate ${APP} --migration-app=other_app`]);
    expect(words.code).toBe(1);
    const bad = await fx.runSsh("owner", [cmd("migrate", APP, "--migration-app", "Other; id")]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("invalid migration app");
  }, T);
});

describe("who may", () => {
  const ALL = [["ssh", APP], ["console", APP], ["rpc", APP, "IO.puts(1)"], ["eval", APP, "IO.puts(1)"], ["migrate", APP]];

  test.each(ALL)("a viewer is refused %p", async (...argv) => {
    const res = await fx.runSsh("viewer", [cmd(...argv)], { stdin: "id\n" });
    expect(res.code).toBe(1);
    expect(res.stdout).toBe("");
    expect(res.stderr).toContain(`beamstalk: your access to app ${APP} does not allow ${argv[0]}; ask the app's owner for collaborator access`);
  }, T);

  test.each(ALL)("a stranger gets not found for %p, like an unknown app", async (...argv) => {
    const res = await fx.runSsh("stranger", [cmd(...argv)], { stdin: "id\n" });
    expect(res.code).toBe(1);
    expect(res.stdout).toBe("");
    expect(res.stderr).toContain(`beamstalk: app ${APP} not found`);
    const unknown = await fx.runSsh("owner", [cmd(argv[0]!, `${RUN}-nope`, ...argv.slice(2))]);
    expect(unknown.stderr).toContain(`beamstalk: app ${RUN}-nope not found`);
  }, T);

  test("the owner of an app without replicas is told so", async () => {
    const res = await fx.runSsh("stranger", [cmd("ssh", OTHER_APP)]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`app ${OTHER_APP} has no running replica`);
  }, T);

  test("an unknown key is refused before anything runs", async () => {
    const res = await fx.runSsh("nobody" as "owner", [cmd("ssh", APP)]).catch(() => null);
    // sshArgs knows no key for "nobody" in USERS, but the key file exists: it is just not registered
    expect(res?.code).toBe(255);
  }, T);

  test("malformed commands get usage, never a host shell", async () => {
    for (const [command, message] of [
      [cmd("console", APP, "web 1"), "invalid replica"],
      [cmd("rpc", APP), "usage: rpc APP EXPR [--replica REPLICA]"],
      [cmd("ssh", "../etc"), "invalid app name"],
      [`console ${APP} $(id)`, "Beamstalk gives no shell"],
      ["bash -l", "Beamstalk gives no shell"],
      [`["sh","-c","id"]`, "Beamstalk gives no shell"],
    ] as const) {
      const res = await fx.runSsh("owner", [command]);
      expect(res.code).toBe(1);
      expect(res.stdout).toBe("");
      expect(res.stderr).toContain(message);
    }
  }, T);

  test("port forwarding, agent and X11 forwarding stay refused", async () => {
    const forward = await fx.runSsh("owner", ["-W", "127.0.0.1:22"]);
    expect(forward.code).not.toBe(0);
    expect(forward.stderr).toMatch(/open failed|prohibited|forwarding failed/);
    const remote = await fx.runSsh("owner", ["-o", "ExitOnForwardFailure=yes", "-R", "127.0.0.1:0:127.0.0.1:22", cmd("eval", APP, "IO.puts(1)")]);
    expect(remote.code).toBe(255);
    expect(remote.stderr).toMatch(/remote port forwarding failed/);
    const agent = await fx.runSsh("owner", ["-A", "-o", "ForwardX11=yes", cmd("ssh", APP)], { stdin: 'echo "agent=${SSH_AUTH_SOCK:-none} display=${DISPLAY:-none}"\n' });
    expect(agent.stdout).toBe("agent=none display=none\n");
  }, T);
});

test("every session is in the activity: who, what kind, which replica, never the expression", () => {
  const mine = fx.activity.filter((a) => a.app === APP);
  expect(mine.some((a) => a.userId === owner.id && a.action === "ps.ssh" && a.detail === "Opened a shell on web.1 (v3)")).toBe(true);
  expect(mine.some((a) => a.userId === collaborator.id && a.action === "ps.ssh" && a.detail === "Opened a shell on web.2 (v3)")).toBe(true);
  expect(mine.some((a) => a.userId === collaborator.id && a.action === "ps.rpc" && a.detail === "Ran rpc on web.1 (v3)")).toBe(true);
  expect(mine.some((a) => a.action === "ps.console" && a.detail === "Opened a remote console on web.1 (v3)")).toBe(true);
  expect(mine.some((a) => a.action === "ps.eval")).toBe(true);
  expect(mine.some((a) => a.action === "ps.migrate" && a.detail === "Ran migrations on web.1 (v3)")).toBe(true);
  expect(mine.every((a) => a.userId === owner.id || a.userId === collaborator.id)).toBe(true);
  for (const entry of fx.activity) expect(entry.detail).not.toContain("IO.puts");
  for (const line of fx.logLines) expect(line).not.toContain("quoted");
});

describe("the CLI's ps:* commands (the system ssh client, argv only)", () => {
  const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;
  let health: ReturnType<typeof Bun.serve>;
  let url = "";

  beforeAll(() => {
    // Stands in for the daemon's /api/health (the commands need nothing else from the API).
    health = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => Response.json({ ok: true, version: "test", ssh_port: fx.ssh.port }) });
    url = `http://127.0.0.1:${health.port}`;
  });
  afterAll(() => health?.stop(true));

  const cli = async (who: "owner" | "viewer", args: string[], options: { stdin?: string; env?: Record<string, string> } = {}) => {
    const proc = Bun.spawn([process.execPath, MAIN, ...args], {
      cwd: fx.root,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: fx.root, BEAMSTALK_URL: url, BEAMSTALK_SSH_CONFIG: fx.sshConfig(who), ...options.env },
      stdin: options.stdin === undefined ? "ignore" : new Blob([options.stdin]),
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, stdout, stderr };
  };

  test("ps:eval and ps:rpc: the SSH port from /api/health, or BEAMSTALK_SSH_PORT without asking the API", async () => {
    expect(await cli("owner", ["ps:eval", "-a", APP, `IO.puts("a  b $(id) 'q'")`])).toEqual({ code: 0, stdout: "a  b $(id) 'q'\n", stderr: "" });
    const rpc = await cli("owner", ["ps:rpc", "--app", APP, "IO.puts(node())"], { env: { BEAMSTALK_URL: "http://127.0.0.1:1", BEAMSTALK_SSH_PORT: String(fx.ssh.port) } });
    expect(rpc).toEqual({ code: 0, stdout: `${node1()}\n`, stderr: "" });
  }, T);

  test("the remote exit status is the command's", async () => {
    expect((await cli("owner", ["ps:eval", "-a", APP, "System.halt(3)"])).code).toBe(3);
    const migrate = await cli("owner", ["ps:migrate", "-a", APP]);
    expect(migrate.stdout).toContain("migrated by Hello.Release.migrate/0 for hello");
    expect(migrate.code).toBe(0);
    const other = await cli("owner", ["ps:migrate", "-a", APP, "--migration-app", "other_app"]);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain("has no Ecto");
  }, T);

  test("GIGALIXIR's distillery [APP] COMMAND: ping, pid, rpc, eval through the same SSH operations; migrate with --migration_app_name", async () => {
    expect(await cli("owner", ["distillery", APP, "ping"])).toEqual({ code: 0, stdout: "pong\n", stderr: "" });
    expect(await cli("owner", ["ps:distillery", "-a", APP, "rpc", "IO.puts(node())", "--replica", "web.1"])).toEqual({ code: 0, stdout: `${node1()}\n`, stderr: "" });
    expect(await cli("owner", ["distillery", APP, "eval", "IO.puts(1+1)"])).toEqual({ code: 0, stdout: "2\n", stderr: "" });
    const pid = await cli("owner", ["distillery", "-a", APP, "pid"]);
    expect(pid.code).toBe(0);
    expect(pid.stdout).toMatch(/^\d+\n$/);
    const unknown = await cli("owner", ["distillery", APP, "stop"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toStartWith('error: not a release command this server runs: "stop"\nhint: give one of: ping, pid, rpc, eval, remote_console, remote;');
    const migrate = await cli("owner", ["migrate", APP, "--migration_app_name", "other_app"]);
    expect(migrate.code).toBe(1);
    expect(migrate.stderr).toContain("has no Ecto");
    expect((await cli("owner", ["migrate", "-a", APP])).stdout).toContain("migrated by Hello.Release.migrate/0 for hello");
  }, T);

  test("ps:ssh --replica without a terminal reads commands from stdin", async () => {
    const res = await cli("owner", ["ps:ssh", "-a", APP, "--replica", "web.2"], { stdin: "hostname; id -u\n" });
    expect(res).toEqual({ code: 0, stdout: `${fx.replicas[1]!.hostname}\n1000\n`, stderr: "" });
  }, T);

  test("ps:remote_console needs a terminal (IEx attaches to a remote node only on one)", async () => {
    const res = await cli("owner", ["ps:remote_console", "-a", APP], { stdin: ":erlang.node()\n" });
    expect(res).toEqual({ code: 2, stdout: "", stderr: "error: ps:remote_console needs a terminal\nhint: run it in a terminal; for scripts use `beamstalk ps:rpc EXPR`\n" });
  }, T);

  test("a viewer is refused; bad arguments never reach ssh", async () => {
    const viewer = await cli("viewer", ["ps:rpc", "-a", APP, "IO.puts(1)"]);
    expect(viewer.code).toBe(1);
    expect(viewer.stderr).toContain("does not allow rpc");
    const badReplica = await cli("owner", ["ps:ssh", "-a", APP, "--replica", "web;id"]);
    expect(badReplica.code).toBe(2);
    expect(badReplica.stderr).toContain("not a replica name");
    const noPort = await cli("owner", ["ps:eval", "-a", APP, "1"], { env: { BEAMSTALK_SSH_PORT: "http" } });
    expect(noPort.code).toBe(2);
  }, T);
});
