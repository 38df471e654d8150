import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BeamstalkError } from "../lib/errors.ts";
import { start } from "../lib/exec.ts";
import type { Cli } from "./context.ts";
import { command } from "./define.ts";
import { checkLocalErlang, compileModules, freePort, type LocalPorts, localNodeArgs, parseSummary, shellWords } from "./observer/local-node.ts";
import { info, printRecord } from "./output.ts";
import { replicaArg, type SshTarget, sshTarget } from "./ps-remote.ts";
import { DIST_PORT, EPMD_PORT } from "../runner/ports.ts";
import type { ObserverHello } from "../ssh/observer-channel.ts";

/**
 * `ps:observer`: one SSH connection runs the server's `observer APP [REPLICA]`
 * session (it records the session and answers one JSON line: the replica's
 * node, its cookie, the ports) and carries two local forwards, to the replica's
 * EPMD and to its node's pinned distribution port. A local hidden node that
 * never listens then connects through them: beamstalk_epmd.erl resolves the
 * replica's `<app>@<IP>` to the forwarded port. The cookie goes only into a
 * 0400 .erlang.cookie in a temporary HOME, removed at the end; never in argv.
 */

/** The session's answer (the protocol both sides share), checked against the ports the server forwards. */
export type { ObserverHello };

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
  aliases: ["observer"],
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

