import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { CliUser, type RunningDaemon, startDaemon } from "../support/daemon.ts";
import { containersLabelled, createFixtureApp, removeAppContainers, sshConfigFor } from "../support/fixture-app.ts";
import { dockerOn } from "../support/target.ts";

/**
 * ps:observer end to end: the compiled daemon and CLI, the system OpenSSH client,
 * the hello fixture deployed by git push, and real Erlang on this host (a hidden
 * node that connects through the SSH forwards). Nothing is published by Docker.
 */
const APP = `obs-${Math.random().toString(36).slice(2, 8)}`;
const OTHER = `obo-${Math.random().toString(36).slice(2, 8)}`;
const LONG = 5 * 60_000;
const T = 90_000;
const NODE = new RegExp(`^${APP}@\\d+\\.\\d+\\.\\d+\\.\\d+$`);
let daemon: RunningDaemon;
let owner: CliUser;
const users: Record<"collaborator" | "viewer" | "stranger", CliUser> = {} as never;
const configs: Record<string, string> = {};
/** The app's cookie, read once to check that it leaks nowhere; never printed. */
let cookie = "";

const sshEnv = (who: string) => ({ BEAMSTALK_SSH_CONFIG: configs[who]! });
/** Asserted as a boolean, so a failing test does not print the cookie either. */
const leaks = (text: string) => text.includes(cookie);

interface TunnelJson {
  node: string;
  replica: string;
  release: number;
  env: { HOME: string };
  erl_args: string[];
  erl: string;
}

/** `ps:observer --tunnel --json` in the background: resolves with its JSON once printed; stop() ends it with SIGINT. */
async function openTunnel(user: CliUser, who: string, extra: string[] = []) {
  const proc = Bun.spawn([process.env.BEAMSTALK_TEST_BINARY || `${import.meta.dir}/../../dist/beamstalk`, "ps:observer", "-a", APP, "--tunnel", "--json", ...extra], {
    cwd: user.home,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: user.home, BEAMSTALK_URL: daemon.url, ...sshEnv(who) },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const reading = (async () => {
    for await (const chunk of proc.stdout) out += Buffer.from(chunk).toString("utf8");
  })();
  const stderr = new Response(proc.stderr).text();
  const deadline = Date.now() + 60_000;
  let json: TunnelJson | null = null;
  while (!json && Date.now() < deadline && proc.exitCode === null) {
    try {
      json = JSON.parse(out) as TunnelJson;
    } catch {
      await Bun.sleep(50);
    }
  }
  if (!json) {
    proc.kill();
    throw new Error(`no tunnel (exit ${await proc.exited}): ${out} ${await stderr}`);
  }
  return {
    json,
    out: () => out,
    async stop() {
      proc.kill("SIGINT");
      const code = await proc.exited;
      await reading;
      return { code, stderr: await stderr };
    },
  };
}

/** Runs Elixir in a hidden node started with the tunnel's flags and HOME (the cookie file). */
async function elixirThrough(tunnel: TunnelJson, code: string) {
  const proc = Bun.spawn(["elixir", "--erl", tunnel.erl_args.join(" "), "-e", code], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tunnel.env.HOME, LANG: "C.UTF-8" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill(), 60_000);
  const [out, err, exit] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code: exit, out, err };
}

/** Free local ports for raw `ssh -L` tests. */
async function freePorts(n: number): Promise<[number, number, ...number[]]> {
  const ports: number[] = [];
  while (ports.length < n) {
    const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    if (!ports.includes(server.port)) ports.push(server.port);
    server.stop(true);
  }
  return ports as [number, number, ...number[]];
}

/** Sends bytes to a local forward and collects what comes back until the connection closes (or 5 s). */
function talk(port: number, request: Uint8Array): Promise<Buffer> {
  return new Promise((done) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: "127.0.0.1", port }, () => socket.write(request));
    const timer = setTimeout(() => socket.destroy(), 5000);
    socket.on("data", (c) => chunks.push(c));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      done(Buffer.concat(chunks));
    });
  });
}

/** Observer (wx) in this host's Erlang, and Xvfb to give it a display: .ci/run installs both. */
const GUI = Bun.which("Xvfb") !== null && Bun.spawnSync(["erl", "-noshell", "-eval", 'io:format("~p", [code:lib_dir(observer) =/= {error, bad_name}]), halt().']).stdout.toString() === "true";

async function hiddenNodesOfReplica(): Promise<string> {
  return owner.ok(["ps:rpc", "-a", APP, "IO.inspect(Node.list(:hidden))"], { env: sshEnv("owner") });
}

/** EPMD's NAMES_REQ: "name <node> at port <port>" lines. */
const NAMES_REQ = new Uint8Array([0, 1, 110]);

/** Raw OpenSSH with forwards, running `command` (a JSON argv) or nothing (-N); resolves once the first output line or exit. */
async function rawSsh(who: string, forwards: string[], command: string[] | null) {
  const argv = ["ssh", "-F", configs[who]!, "-p", String(daemon.sshPort), "-T", "-o", "ExitOnForwardFailure=yes", ...forwards.flatMap((f) => ["-L", f]),
    ...(command ? [] : ["-N"]), "git@127.0.0.1", ...(command ? [JSON.stringify(command)] : [])];
  const proc = Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  let out = "";
  const reading = (async () => {
    for await (const chunk of proc.stdout) out += Buffer.from(chunk).toString("utf8");
  })();
  if (command) {
    const deadline = Date.now() + 30_000;
    while (!out.includes("\n") && proc.exitCode === null && Date.now() < deadline) await Bun.sleep(50);
  } else {
    await Bun.sleep(1500); // -N prints nothing: give ssh time to authenticate and listen
  }
  return {
    line: out.split("\n")[0] ?? "",
    exited: () => proc.exitCode,
    async stop() {
      proc.stdin.end();
      proc.kill("SIGTERM");
      const code = await proc.exited;
      await reading;
      return { code, stderr: await new Response(proc.stderr).text() };
    },
  };
}

beforeAll(async () => {
  daemon = await startDaemon();
  owner = new CliUser(daemon.url);
  await owner.ok(["signup", "--email", "observer@example.com", "--socket", daemon.socket], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
  configs.owner = await sshConfigFor(owner);
  for (const who of ["collaborator", "viewer", "stranger"] as const) {
    const user = new CliUser(daemon.url);
    const email = `${who}@example.com`;
    const invite = JSON.parse(await owner.ok(["invites:create", email, "--json"]));
    await user.ok(["signup", "--email", email, "--invite", invite.code], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
    configs[who] = await sshConfigFor(user);
    users[who] = user;
  }
  const app = await createFixtureApp(owner, APP);
  await app.push();
  await owner.ok(["access:add", "collaborator@example.com", "--role", "collaborator", "-a", APP]);
  await owner.ok(["access:add", "viewer@example.com", "--role", "viewer", "-a", APP]);
  const other = await createFixtureApp(owner, OTHER);
  await other.push();
  cookie = (await owner.ok(["ps:rpc", "-a", APP, "IO.puts(Node.get_cookie())"], { env: sshEnv("owner") })).trim();
  expect(cookie.length).toBeGreaterThan(20);
}, LONG);

afterAll(async () => {
  for (const app of [APP, OTHER]) await owner?.run(["apps:destroy", "-a", app, "--confirm", app]);
  await daemon?.stop();
  for (const app of [APP, OTHER]) removeAppContainers(app);
  owner?.cleanup();
  for (const user of Object.values(users)) user.cleanup();
}, LONG);

describe("ps:observer", () => {
  test("the replica's node listens on the pinned distribution port, and Docker publishes nothing", async () => {
    const expr = `IO.inspect(:application.get_env(:kernel, :inet_dist_listen_min))
[name, _] = String.split(Atom.to_string(node()), "@")
{:port, port, _} = :erl_epmd.port_please(String.to_charlist(name), {127, 0, 0, 1})
IO.puts(port)`;
    expect(await owner.ok(["ps:rpc", "-a", APP, expr], { env: sshEnv("owner") })).toBe("{:ok, 9100}\n9100\n");
    const ids = [...containersLabelled(`beamstalk.app=${APP}`), ...containersLabelled(`beamstalk.app=${OTHER}`)];
    expect(ids.length).toBeGreaterThanOrEqual(2);
    for (const id of ids) {
      const published = dockerOn(id, "port", id);
      expect(published.code).toBe(0);
      expect(published.stdout).toBe("");
      // No port bindings, and on no network but its app's (on Swarm the network mode is "default": the networks tell).
      const bindings = dockerOn(id, "inspect", "-f", "{{json .HostConfig.PortBindings}}{{range $net, $_ := .NetworkSettings.Networks}} {{$net}}{{end}}", id).stdout;
      expect(bindings).toMatch(new RegExp(`^(\\{\\}|null) beamstalk-(${APP}|${OTHER})$`));
    }
  }, T);

  test("--info: a hidden node on this host connects through the tunnel and reads the replica's system", async () => {
    const res = await owner.run(["ps:observer", "-a", APP, "--info", "--json"], { env: sshEnv("owner") });
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    const summary = JSON.parse(res.stdout) as Record<string, string | number>;
    expect(summary.node).toMatch(NODE);
    expect(summary.replica).toBe("web.1");
    expect(summary.release).toBe(1);
    expect(summary.otp_release).toBe(25);
    expect(summary.process_count).toBeGreaterThan(30);
    expect(String(summary.applications).split(",")).toEqual(expect.arrayContaining(["hello", "runtime_tools", "kernel"]));
    const text = await owner.ok(["ps:observer", "-a", APP, "--info", "--replica", "web.1"], { env: sshEnv("owner") });
    expect(text).toMatch(new RegExp(`^node: +${APP}@[\\d.]+ \\(web\\.1, v1\\)$`, "m"));
    for (const out of [res.stdout, text]) expect(leaks(out)).toBe(false);
  }, T);

  test("--tunnel: an elixir --hidden node with the printed flags runs :rpc.call on the replica; Ctrl-C removes the cookie", async () => {
    const tunnel = await openTunnel(owner, "owner");
    try {
      expect(tunnel.json.node).toMatch(NODE);
      expect(tunnel.json.erl_args).toContain("-hidden");
      expect(leaks(tunnel.out())).toBe(false);
      expect(existsSync(`${tunnel.json.env.HOME}/.erlang.cookie`)).toBe(true);
      // The local forwards listen on loopback only.
      const listening = Bun.spawnSync(["ss", "-Hltn"]).stdout.toString();
      for (const flag of ["-beamstalk_epmd_port", "-beamstalk_dist_port"]) {
        const port = tunnel.json.erl_args[tunnel.json.erl_args.indexOf(flag) + 1];
        const lines = listening.split("\n").filter((l) => new RegExp(`:${port}\\s`).test(l));
        expect(lines.length).toBeGreaterThan(0);
        for (const l of lines) expect(l).toMatch(new RegExp(`\\s127\\.0\\.0\\.1:${port}\\s`));
      }
      const node = tunnel.json.node;
      const ip = node.split("@")[1];
      const res = await elixirThrough(tunnel.json, `node = :"${node}"
true = Node.connect(node)
IO.puts(:rpc.call(node, Kernel, :node, []))
IO.puts(:rpc.call(node, Hello.Version, :marker, []))
IO.puts(:rpc.call(node, System, :get_env, ["MY_POD_IP"]))
IO.inspect(Code.ensure_loaded?(Hello.Version))
IO.inspect(node in Node.list(:hidden))`);
      expect(res.err).toBe("");
      expect(res.out).toBe(`${node}\nhello v1\n${ip}\nfalse\ntrue\n`);
      // The hidden node never joined the app's cluster: the replica's visible nodes do not include it.
      const visible = await owner.ok(["ps:rpc", "-a", APP, "IO.inspect(Node.list())"], { env: sshEnv("owner") });
      expect(visible).toBe("[]\n");
    } finally {
      const { code } = await tunnel.stop();
      expect(code).toBe(130);
    }
    expect(existsSync(tunnel.json.env.HOME)).toBe(false);
    await Bun.sleep(300);
    expect(daemon.log()).toMatch(new RegExp(`ssh\\.observer\\.exit .*app=${APP}`));
  }, T);

  test.skipIf(!GUI)("without flags, Observer opens (under Xvfb) in a hidden node connected to the replica; Ctrl-C ends it", async () => {
    const n = 100 + Math.floor(Math.random() * 400);
    const xvfb = Bun.spawn(["Xvfb", `:${n}`, "-nolisten", "tcp"], { stdout: "ignore", stderr: "ignore" });
    try {
      for (let i = 0; i < 100 && !existsSync(`/tmp/.X11-unix/X${n}`); i++) await Bun.sleep(50);
      const proc = Bun.spawn([process.env.BEAMSTALK_TEST_BINARY || `${import.meta.dir}/../../dist/beamstalk`, "ps:observer", "-a", APP], {
        cwd: owner.home,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: owner.home, BEAMSTALK_URL: daemon.url, DISPLAY: `:${n}`, ...sshEnv("owner") },
        stdin: "ignore", stdout: "pipe", stderr: "pipe",
      });
      let err = "";
      const reading = (async () => {
        for await (const chunk of proc.stderr) err += Buffer.from(chunk).toString("utf8");
      })();
      let hidden = "";
      for (let i = 0; i < 60 && !hidden.includes("beamstalk-observer-"); i++) {
        await Bun.sleep(500);
        if (proc.exitCode !== null) break;
        hidden = await hiddenNodesOfReplica();
      }
      expect(err).toContain("Observer is opening on ");
      expect(hidden).toMatch(/:"beamstalk-observer-[a-z0-9]+@127\.0\.0\.1"/);
      // Observer's window stays up (its local node lives as long as the window).
      await Bun.sleep(2000);
      expect(proc.exitCode).toBeNull();
      if (err.includes("OTP 25 and older")) expect(err).toMatch(new RegExp(`choose Nodes > Connect Node and enter ${APP}@`));
      proc.kill("SIGINT");
      expect(await proc.exited).toBe(130);
      await reading;
      expect(leaks(err)).toBe(false);
      let after = await hiddenNodesOfReplica();
      for (let i = 0; i < 20 && after.includes("beamstalk-observer-"); i++) {
        await Bun.sleep(250);
        after = await hiddenNodesOfReplica();
      }
      expect(after).not.toContain("beamstalk-observer-");
    } finally {
      xvfb.kill();
      await xvfb.exited;
    }
  }, T);

  test("a collaborator may open a session; each session is in apps:activity, once", async () => {
    const before = JSON.parse(await owner.ok(["apps:activity", "-a", APP, "--json"])) as { action: string; detail: string; user?: string; email?: string }[];
    const res = await users.collaborator.run(["ps:observer", "-a", APP, "--info"], { env: sshEnv("collaborator") });
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toContain("hello");
    const after = JSON.parse(await owner.ok(["apps:activity", "-a", APP, "--json"])) as { action: string; detail: string }[];
    const sessions = after.filter((e) => e.action === "ps.observer");
    expect(sessions.length).toBe(before.filter((e) => e.action === "ps.observer").length + 1);
    expect(sessions.length).toBeGreaterThanOrEqual(GUI ? 5 : 4);
    expect(sessions[0]!.detail).toBe("Opened an observer session on web.1 (v1)");
    expect(JSON.stringify(sessions[0])).toContain("collaborator@example.com");
    expect(leaks(JSON.stringify(after))).toBe(false);
  }, T);

  test("a viewer and a stranger get nothing: the session and every forward are refused", async () => {
    const refusedBefore = daemon.log().split("ssh.forward.refused").length;
    const viewer = await users.viewer.run(["ps:observer", "-a", APP, "--info"], { env: sshEnv("viewer") });
    expect(viewer.code).toBe(1);
    expect(viewer.stdout).toBe("");
    expect(viewer.stderr).toContain(`your access to app ${APP} does not allow observer`);
    const stranger = await users.stranger.run(["ps:observer", "-a", APP, "--info"], { env: sshEnv("stranger") });
    expect(stranger.code).toBe(1);
    expect(stranger.stdout).toBe("");
    expect(stranger.stderr).toContain(`app ${APP} not found`);
    const [epmd, dist] = await freePorts(2);
    for (const who of ["viewer", "stranger"]) {
      // With the session command: refused, so nothing is held.
      const withSession = await rawSsh(who, [`127.0.0.1:${epmd}:web.1.${APP}:4369`], ["observer", APP]);
      expect(withSession.line).toBe("");
      expect((await withSession.stop()).code).not.toBe(0);
      // Forwards alone (ssh -N): every channel is refused, so nothing comes back.
      const bare = await rawSsh(who, [`127.0.0.1:${epmd}:web.1.${APP}:4369`, `127.0.0.1:${dist}:${APP}:9100`], null);
      expect((await talk(epmd, NAMES_REQ)).length).toBe(0);
      expect((await talk(dist, NAMES_REQ)).length).toBe(0);
      await bare.stop();
    }
    const bareOwner = await rawSsh("owner", [`127.0.0.1:${epmd}:web.1.${APP}:4369`], null);
    expect((await talk(epmd, NAMES_REQ)).length).toBe(0);
    await bareOwner.stop();
    expect(daemon.log()).toContain("no observer session on this connection holds web.1." + APP);
    // viewer and stranger: two forwards each; the owner's bare forward: one.
    expect(daemon.log().split("ssh.forward.refused").length - refusedBefore).toBeGreaterThanOrEqual(5);
    expect(leaks(daemon.log())).toBe(false);
  }, T);

  test("within a session only the held replica's EPMD and distribution port are forwarded", async () => {
    const [epmd, other, http = 0, byIp = 0, host = 0] = await freePorts(5);
    const otherIp = (JSON.parse(await owner.ok(["ps", "-a", OTHER, "--json"])) as { replicas: { node: string }[] }).replicas[0]!.node.split("@")[1];
    const ssh = await rawSsh("owner", [
      `127.0.0.1:${epmd}:web.1.${APP}:4369`,
      `127.0.0.1:${other}:web.1.${OTHER}:9100`,
      `127.0.0.1:${http}:web.1.${APP}:4000`,
      `127.0.0.1:${byIp}:${otherIp}:4369`,
      `127.0.0.1:${host}:localhost:${daemon.sshPort}`,
    ], ["observer", APP]);
    try {
      const hello = JSON.parse(ssh.line) as { node: string; host: string; epmd_port: number; dist_port: number; cookie: string };
      expect(hello).toMatchObject({ host: `web.1.${APP}`, epmd_port: 4369, dist_port: 9100 });
      expect(hello.cookie === cookie).toBe(true);
      const names = (await talk(epmd, NAMES_REQ)).toString("latin1");
      expect(names).toContain(`name ${APP} at port 9100`);
      // (The distribution port through `<app>` carries the hidden node of the tests above.)
      for (const port of [other, http, byIp, host]) expect((await talk(port, NAMES_REQ)).length).toBe(0);
      const log = daemon.log();
      expect(log).toContain(`no observer session on this connection holds web.1.${OTHER}`);
      expect(log).toContain("port 4000 is not forwarded");
      expect(log).toMatch(/ssh\.forward\.refused .*not a replica/);
    } finally {
      await ssh.stop();
    }
  }, T);
});
