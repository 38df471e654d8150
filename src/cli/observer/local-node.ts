import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { BeamstalkError } from "../../lib/errors.ts";
import { exec } from "../../lib/exec.ts";
import epmdModule from "./beamstalk_epmd.erl" with { type: "text" };
import observerModule from "./beamstalk_observer.erl" with { type: "text" };

/**
 * The local side of `ps:observer`: this machine's Erlang, the two modules it
 * compiles at run time, and the flags of the hidden node that connects through
 * the SSH forwards. The node's cookie is never among its flags: it reads it from
 * $HOME/.erlang.cookie, HOME being a temporary directory.
 */

/** Local ends of the two SSH forwards, on 127.0.0.1. */
export interface LocalPorts {
  epmd: number;
  dist: number;
}

/** What the node is told about the replica's node (the session's answer). */
export interface RemoteNode {
  node: string;
  dist_port: number;
}

/**
 * The local node's erl flags: hidden (the app's cluster never sees it), named
 * but not listening, no EPMD of its own, beamstalk_epmd as its EPMD module.
 * Long names unless the replica's node has a short one.
 */
export function localNodeArgs(hello: RemoteNode, ports: LocalPorts, codeDir: string, suffix: string): string[] {
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

/** A free TCP port on 127.0.0.1 (for an ssh -L listener). */
export async function freePort(): Promise<number> {
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
export async function checkLocalErlang(gui: boolean): Promise<void> {
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
export async function compileModules(dir: string): Promise<string> {
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
