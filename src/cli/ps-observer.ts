import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BeamstalkError } from "../lib/errors.ts";
import { exec, start } from "../lib/exec.ts";
import type { Cli } from "./context.ts";
import { command } from "./define.ts";
import epmdModule from "./observer/beamstalk_epmd.erl" with { type: "text" };
import observerModule from "./observer/beamstalk_observer.erl" with { type: "text" };
import { info, printRecord } from "./output.ts";
import { replicaArg, type SshTarget, sshTarget } from "./ps-remote.ts";

/**
 * `ps:observer`: one SSH connection runs the server's `observer APP [REPLICA]`
 * session (it records the session and answers one JSON line: the replica's
 * node, its cookie, the ports) and carries two local forwards, to the replica's
 * EPMD and to its node's pinned distribution port. A local hidden node that
 * never listens then connects through them: beamstalk_epmd.erl resolves the
 * replica's `<app>@<IP>` to the forwarded port. The cookie goes only into a
 * 0400 .erlang.cookie in a temporary HOME, removed at the end; never in argv.
 */

/** What the server forwards to (src/runner/ports.ts); the session's answer is checked against them. */
export const EPMD_PORT = 4369;
export const DIST_PORT = 9100;

export interface ObserverHello {
  app: string;
  replica: string;
  release: number;
  node: string;
  host: string;
  epmd_port: number;
  dist_port: number;
  cookie: string;
}

export interface LocalPorts {
  epmd: number;
  dist: number;
}

/** The ssh argv: no pty, forwards only on 127.0.0.1, the session command as one JSON element. */
export function observerSshArgv(target: SshTarget, app: string, replica: string | undefined, ports: LocalPorts): string[] {
  const host = replica ? `${replica}.${app}` : app;
  return [
    "ssh",
    ...(target.config ? ["-F", target.config] : []),
    "-p", String(target.port),
    "-T",
    "-o", "ForwardAgent=no",
    "-o", "ForwardX11=no",
    "-o", "GatewayPorts=no",
    "-o", "ExitOnForwardFailure=yes",
    "-o", "ServerAliveInterval=15",
    "-L", `127.0.0.1:${ports.epmd}:${host}:${EPMD_PORT}`,
    "-L", `127.0.0.1:${ports.dist}:${host}:${DIST_PORT}`,
    "--",
    `git@${target.host}`,
    JSON.stringify(["observer", app, ...(replica ? [replica] : [])]),
  ];
}

/** Reads the session's JSON line; null when it is not one. */
export function parseHello(line: string): ObserverHello | null {
  try {
    const v = JSON.parse(line) as Partial<ObserverHello>;
    const ok = typeof v.node === "string" && /^[^@\s]+@[^@\s]+$/.test(v.node) && typeof v.cookie === "string" && v.cookie.length > 0
      && typeof v.replica === "string" && typeof v.release === "number" && typeof v.host === "string" && typeof v.app === "string"
      && typeof v.epmd_port === "number" && typeof v.dist_port === "number";
    return ok ? (v as ObserverHello) : null;
  } catch {
    return null;
  }
}

/**
 * The local node's erl flags: hidden (the app's cluster never sees it), named
 * but not listening, no EPMD of its own, beamstalk_epmd as its EPMD module.
 * Long names unless the replica's node has a short one.
 */
export function localNodeArgs(hello: ObserverHello, ports: LocalPorts, codeDir: string, suffix: string): string[] {
  const long = hello.node.split("@")[1]!.includes(".");
  return [
    "-hidden",
    long ? "-name" : "-sname", long ? `beamstalk-observer-${suffix}@127.0.0.1` : `beamstalk-observer-${suffix}@localhost`,
    "-start_epmd", "false",
    "-dist_listen", "false",
    "-epmd_module", "beamstalk_epmd",
    "-pa", codeDir,
    "-beamstalk_node", hello.node,
    "-beamstalk_epmd_port", String(ports.epmd),
    "-beamstalk_dist_port", String(ports.dist),
    "-beamstalk_remote_dist_port", String(hello.dist_port),
  ];
}

/** For people to copy, never run by us: single quotes where a word needs them. */
export function shellWords(words: readonly string[]): string {
  return words.map((w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`)).join(" ");
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => done());
  });
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/** erl and erlc on PATH; for the GUI also Observer (wx) and a display. */
async function checkLocalErlang(gui: boolean): Promise<void> {
  if (!Bun.which("erl") || !Bun.which("erlc")) {
    throw new BeamstalkError("usage", "ps:observer needs Erlang on this machine (erl and erlc)", "install Erlang/OTP 23 or later (Debian/Ubuntu: apt-get install erlang-base, or elixir)");
  }
  if (!gui) return;
  const res = await exec(["erl", "-noshell", "-eval", 'io:format("~p", [code:lib_dir(observer) =/= {error, bad_name} andalso code:lib_dir(wx) =/= {error, bad_name}]), halt().'], { timeoutMs: 30_000 });
  if (res.stdout.trim() !== "true") {
    throw new BeamstalkError("usage", "this machine's Erlang has no Observer (the observer and wx applications)",
      "install it (Debian/Ubuntu: apt-get install erlang-observer; Homebrew's erlang has it), or use --info for a summary or --tunnel to connect your own node");
  }
  if (process.platform === "linux" && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
    throw new BeamstalkError("usage", "Observer needs a display and none is set (DISPLAY, WAYLAND_DISPLAY)", "run it in a desktop session, or use --info for a summary or --tunnel to connect your own node");
  }
}

/** Writes and compiles the two Erlang modules into dir/ebin; returns that directory. */
async function compileModules(dir: string): Promise<string> {
  const src = join(dir, "src");
  const ebin = join(dir, "ebin");
  mkdirSync(src);
  mkdirSync(ebin);
  writeFileSync(join(src, "beamstalk_epmd.erl"), epmdModule);
  writeFileSync(join(src, "beamstalk_observer.erl"), observerModule);
  const res = await exec(["erlc", "-o", ebin, join(src, "beamstalk_epmd.erl"), join(src, "beamstalk_observer.erl")], { timeoutMs: 60_000 });
  if (res.code !== 0) throw new BeamstalkError("internal", `erlc could not compile the observer's modules: ${res.stderr.trim() || res.stdout.trim()}`);
  return ebin;
}

type SshProcess = ReturnType<typeof start>;

/** The session's first line, or null when ssh ended first (its stderr, inherited, said why). Keeps reading after it. */
async function readHello(ssh: SshProcess, timeoutMs: number): Promise<string | null> {
  const reader = (ssh.stdout as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = "";
  const timer = setTimeout(() => ssh.kill(), timeoutMs);
  try {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) return null;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    clearTimeout(timer);
  }
  void (async () => {
    while (!(await reader.read().catch(() => ({ done: true }))).done);
  })();
  return text.slice(0, text.indexOf("\n"));
}

const ARGS = {
  replica: { type: "string", description: "the replica, e.g. web.1 (default: the first running web replica)" },
  info: { type: "boolean", description: "print the node's system summary (Observer's System tab) and exit" },
  tunnel: { type: "boolean", description: "hold the tunnel open and print how to connect your own node to it, until Ctrl-C" },
} as const;

export const psObserver = command({
  name: "ps:observer",
  description: "Open Observer on a running replica's node through an SSH tunnel (needs Erlang locally); --info prints a summary, --tunnel lets you connect your own node",
  app: true,
  data: true,
  args: ARGS,
  async run(args, cli) {
    if (args.info && args.tunnel) throw new BeamstalkError("usage", "--info and --tunnel do not go together");
    const mode = args.info ? "info" : args.tunnel ? "tunnel" : "gui";
    const app = await cli.app();
    const replica = replicaArg(args.replica)[0];
    await checkLocalErlang(mode === "gui");
    const target = await sshTarget(cli);
    const code = await withSession(cli, { app, replica, target, mode });
    if (code !== 0) process.exit(code);
  },
});

interface SessionRequest {
  app: string;
  replica: string | undefined;
  target: SshTarget;
  mode: "gui" | "info" | "tunnel";
}

/** Opens the session, runs the mode, and always cleans up: the local node, ssh, and the directory holding the cookie. */
async function withSession(cli: Cli, request: SessionRequest): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "beamstalk-observer-"));
  chmodSync(dir, 0o700);
  let ssh: SshProcess | null = null;
  let node: SshProcess | null = null;
  let interrupted: (() => void) | null = null;
  const stopped = new Promise<number>((done) => (interrupted = () => done(130)));
  const onSignal = () => interrupted?.();
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, onSignal);
  try {
    const ebin = await compileModules(dir);
    const ports = { epmd: await freePort(), dist: 0 };
    do ports.dist = await freePort();
    while (ports.dist === ports.epmd);
    try {
      ssh = start(observerSshArgv(request.target, request.app, request.replica, ports), { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new BeamstalkError("unreachable", "the ssh client is not installed", "install OpenSSH's client (apt-get install openssh-client)");
      throw err;
    }
    const line = await Promise.race([readHello(ssh, 60_000), stopped.then(() => null)]);
    if (line === null) return ssh.exitCode ?? (await Promise.race([ssh.exited, stopped]));
    const hello = parseHello(line);
    if (!hello) throw new BeamstalkError("internal", "the server's observer session answered something unexpected", "is the CLI older than the server? update it");
    if (hello.epmd_port !== EPMD_PORT || hello.dist_port !== DIST_PORT) {
      throw new BeamstalkError("internal", `the server forwards ports ${hello.epmd_port} and ${hello.dist_port}, this CLI expects ${EPMD_PORT} and ${DIST_PORT}`, "use a CLI of the server's version");
    }
    const home = join(dir, "home");
    mkdirSync(home, { mode: 0o700 });
    writeFileSync(join(home, ".erlang.cookie"), hello.cookie, { mode: 0o400 });
    const erlArgs = localNodeArgs(hello, ports, ebin, Math.random().toString(36).slice(2, 8));
    const env = { HOME: home };
    const where = `${hello.node} (${hello.replica}, v${hello.release})`;

    if (request.mode === "tunnel") {
      const connect = `net_kernel:connect_node('${hello.node}')`;
      const data = {
        app: hello.app, replica: hello.replica, release: hello.release, node: hello.node, env, erl_args: erlArgs,
        erl: `HOME=${shellWords([home])} erl ${shellWords(erlArgs)}`,
        iex: `HOME=${shellWords([home])} iex --erl ${shellWords([erlArgs.join(" ")])}`,
      };
      cli.print(data, () => printRecord({ node: where, erl: data.erl, iex: data.iex, then: `${connect}  (in iex: Node.connect(:"${hello.node}"))` }));
      info(`The tunnel to ${where} is open; Ctrl-C closes it. The cookie is in ${join(home, ".erlang.cookie")} until then.`);
      return await Promise.race([stopped, ssh.exited.then((c) => (c === 0 ? 1 : c))]);
    }

    const evalFun = request.mode === "info" ? "beamstalk_observer:info()" : "beamstalk_observer:gui()";
    node = start(["erl", request.mode === "info" ? "-noshell" : "-noinput", ...erlArgs, "-eval", evalFun], {
      env, stdin: "ignore", stdout: request.mode === "info" ? "pipe" : "inherit", stderr: "inherit",
    });
    if (request.mode === "gui") {
      info(`Observer is opening on ${where}; close its window to end the session.`);
      return await Promise.race([node.exited, stopped]);
    }
    const [out, exitCode] = await Promise.race([
      Promise.all([new Response(node.stdout as ReadableStream).text(), node.exited]),
      stopped.then((c) => ["", c] as const),
    ]);
    if (exitCode !== 0) return exitCode;
    const summary = parseSummary(out);
    cli.print({ ...summary, replica: hello.replica, release: hello.release }, () => printRecord({ ...summary, node: where }));
    return 0;
  } finally {
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(signal, onSignal);
    if (node && node.exitCode === null) node.kill();
    if (ssh && ssh.exitCode === null) {
      const proc: SshProcess = ssh;
      (proc.stdin as { end(): unknown }).end();
      const timer = setTimeout(() => proc.kill(), 2000);
      await proc.exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `key<TAB>value` lines from beamstalk_observer:info/0; integers become numbers. */
export function parseSummary(out: string): Record<string, string | number> {
  const summary: Record<string, string | number> = {};
  for (const line of out.split("\n")) {
    const tab = line.indexOf("\t");
    if (tab <= 0) continue;
    const value = line.slice(tab + 1);
    summary[line.slice(0, tab)] = /^\d{1,15}$/.test(value) ? Number(value) : value;
  }
  return summary;
}
