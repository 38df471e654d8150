/**
 * What the benchmarks share: a temp dir, helper processes (Bun scripts that
 * print their port as their first line, nginx), free ports below 32768 (the
 * ephemeral range here starts at 32768 and other workloads' outgoing
 * connections take ports in it), wrk runs parsed into req/s and p99, and
 * stopping everything started, by PID.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exec, start, type StartOptions } from "../src/lib/exec.ts";

export type Child = ReturnType<typeof start>;

/** The Host header the benchmark routes answer to. */
export const BENCH_HOST = "bench.test";

/** Reads a child's stdout up to its first newline (the child then keeps running). */
export async function firstLine(proc: Child): Promise<string> {
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) throw new Error("process exited before printing its port");
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return text.split("\n")[0]!.trim();
}

/** A port in 20000–29999 nobody listens on right now (below the ephemeral range). */
export function freePort(): number {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 10000);
    try {
      const probe = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
      probe.stop(true);
      return port;
    } catch {}
  }
}

export interface NginxOptions {
  /** The `app` upstream (keep-alive 64) points at 127.0.0.1:upstreamPort. */
  upstreamPort: number;
  /** The server block's body, given the port nginx listens on (it must `listen 127.0.0.1:PORT`). */
  server: (port: number) => string;
  /** Extra directives in the http block, before the server block (e.g. a `map`). */
  http?: string;
  workerConnections?: number;
  /** error_log level (nginx's default, "error", when unset). */
  logLevel?: string;
  /** How to probe readiness: "https" skips certificate checks. */
  scheme?: "http" | "https";
}

/**
 * One benchmark run: a temp dir and the processes started in it. Everything is
 * stopped by PID (and the dir removed) by stop().
 */
export class Bench {
  readonly dir: string;
  readonly children: Child[] = [];

  constructor(prefix = "beamstalk-bench-") {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
  }

  /** Starts a process and remembers it for stop(). */
  start(argv: readonly string[], options: StartOptions = {}): Child {
    const proc = start(argv, options);
    this.children.push(proc);
    return proc;
  }

  /** Starts bench/<script> under this Bun; resolves with the port it prints first. */
  async spawnBun(script: string, args: string[] = [], options: StartOptions = {}): Promise<number> {
    return (await this.spawnBunProc(script, args, options)).port;
  }

  /** Like spawnBun, and hands back the process too (for its PID). */
  async spawnBunProc(script: string, args: string[] = [], options: StartOptions = {}): Promise<{ port: number; proc: Child }> {
    const proc = this.start([process.execPath, join(import.meta.dir, script), ...args], { stdout: "pipe", stderr: "inherit", ...options });
    return { port: Number(await firstLine(proc)), proc };
  }

  /**
   * Writes nginx.conf in the temp dir (1 worker, no daemon, access log off,
   * temp paths and pid inside the dir) around the given server block, starts
   * nginx and waits until it answers. Resolves with its port; nginx's master
   * is the child (it stops its worker on SIGTERM).
   */
  async startNginx(options: NginxOptions): Promise<{ port: number; proc: Child }> {
    const dir = this.dir;
    const port = freePort();
    const conf = join(dir, "nginx.conf");
    writeFileSync(
      conf,
      `worker_processes 1;
daemon off;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")}${options.logLevel ? ` ${options.logLevel}` : ""};
events { worker_connections ${options.workerConnections ?? 4096}; }
http {
  access_log off;
  client_body_temp_path ${join(dir, "body")};
  proxy_temp_path ${join(dir, "proxy")};
  fastcgi_temp_path ${join(dir, "fastcgi")};
  uwsgi_temp_path ${join(dir, "uwsgi")};
  scgi_temp_path ${join(dir, "scgi")};
  upstream app { server 127.0.0.1:${options.upstreamPort}; keepalive 64; }
${options.http ?? ""}  server {
${options.server(port)}
  }
}
`,
    );
    const proc = this.start(["/usr/sbin/nginx", "-p", dir, "-c", conf], { stdout: "ignore", stderr: "inherit" });
    const scheme = options.scheme ?? "http";
    for (let i = 0; i < 100; i++) {
      try {
        await fetch(`${scheme}://127.0.0.1:${port}/`, scheme === "https" ? { tls: { rejectUnauthorized: false } } : {});
        return { port, proc };
      } catch {
        await Bun.sleep(50);
      }
    }
    throw new Error("nginx did not start");
  }

  /** Stops one child by PID: SIGTERM, SIGKILL if it is still running after `graceMs`. */
  async kill(child: Child, graceMs = 10_000): Promise<void> {
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await child.exited;
    clearTimeout(timer);
  }

  /** SIGTERM to every child by PID, SIGKILL to any still running after `graceMs`; then removes the temp dir. */
  async stop(graceMs = 10_000): Promise<void> {
    for (const child of this.children) child.kill("SIGTERM");
    const timer = setTimeout(() => {
      for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }, graceMs);
    await Promise.all(this.children.map((c) => c.exited));
    clearTimeout(timer);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The proxy_set_header lines both HTTP benchmarks give nginx (keep-alive upstream, forwarded headers). */
export const NGINX_PROXY_HEADERS = `      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;`;

export interface WrkResult {
  rps: number;
  p99: string;
  errors: string;
}

/** wrk -t1 -c64 --latency with Host: bench.test (plus `extra` arguments); req/s, p99 and the error line. */
export async function wrk(url: string, duration: string, extra: string[] = []): Promise<WrkResult> {
  const out = await exec(["/usr/bin/wrk", "-t1", "-c64", `-d${duration}`, "--latency", "-H", `Host: ${BENCH_HOST}`, ...extra, url]);
  if (out.code !== 0) throw new Error(`wrk failed: ${out.stderr}`);
  return parseWrk(out.stdout);
}

export function parseWrk(stdout: string): WrkResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
  const p99 = /^\s+99%\s+(\S+)/m.exec(stdout)?.[1] ?? "?"; // the latency distribution line, not a Stdev column that reads 99%
  const errors = /Non-2xx.*|Socket errors.*/.exec(stdout)?.[0] ?? "none";
  return { rps, p99, errors };
}

/** A 2 s wrk run to warm a server up; its result is ignored. */
export async function warm(url: string): Promise<void> {
  await exec(["/usr/bin/wrk", "-t1", "-c64", "-d2s", "-H", `Host: ${BENCH_HOST}`, url]);
}

/**
 * CPU time (user + system, all threads) of a process and its direct children,
 * in ms, from /proc: nginx's master counts its worker, the router counts
 * Bun's fetch thread. Divided by requests served, it is the proxy's cost per
 * request, a steadier figure than req/s on a shared machine.
 */
export function cpuMs(pid: number): number {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {}
  let ticks = 0;
  for (const p of [pid, ...children]) {
    const fields = readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]!.split(" ");
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
  }
  return ticks * (1000 / CLOCK_TICKS);
}

/** USER_HZ: 100 on Linux everywhere this runs. */
const CLOCK_TICKS = 100;

/** wrk against a proxy whose process is `pid`: the result plus the proxy's CPU µs per request. */
export async function wrkWithCpu(url: string, duration: string, pid: number, extra: string[] = []): Promise<WrkResult & { cpuUsPerReq: number }> {
  const before = cpuMs(pid);
  const started = performance.now();
  const result = await wrk(url, duration, extra);
  const seconds = (performance.now() - started) / 1000;
  return { ...result, cpuUsPerReq: ((cpuMs(pid) - before) * 1000) / (result.rps * seconds) };
}

/** VmRSS of a process in KiB, from /proc/<pid>/status. */
export async function rssKiB(pid: number): Promise<number> {
  const status = await Bun.file(`/proc/${pid}/status`).text();
  const kib = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kib);
}
