/**
 * Router vs nginx, same upstream, same run: `bun bench/router.ts`.
 * Starts a Bun upstream, the router (own process) and nginx (1 worker,
 * keep-alive upstream), runs `wrk -t1 -c64 -d10s --latency` against each,
 * prints req/s, p99 and the ratio, and stops everything it started by PID.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exec, start } from "../src/lib/exec.ts";

const DURATION = process.env.BENCH_DURATION ?? "10s";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const children: ReturnType<typeof start>[] = [];
const dir = mkdtempSync(join(tmpdir(), "beamstalk-bench-"));

async function firstLine(proc: ReturnType<typeof start>): Promise<string> {
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

async function spawnBun(script: string, args: string[] = []): Promise<number> {
  const proc = start([process.execPath, join(import.meta.dir, script), ...args], { stdout: "pipe", stderr: "inherit" });
  children.push(proc);
  return Number(await firstLine(proc));
}

async function freePort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 10000);
    try {
      const probe = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
      probe.stop(true);
      return port;
    } catch {}
  }
}

async function startNginx(upstreamPort: number): Promise<number> {
  const port = await freePort();
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")};
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(dir, "body")};
  proxy_temp_path ${join(dir, "proxy")};
  fastcgi_temp_path ${join(dir, "fastcgi")};
  uwsgi_temp_path ${join(dir, "uwsgi")};
  scgi_temp_path ${join(dir, "scgi")};
  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
    }
  }
}
`,
  );
  const proc = start(["/usr/sbin/nginx", "-p", dir, "-c", conf], { stdout: "ignore", stderr: "inherit" });
  children.push(proc);
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      return port;
    } catch {
      await Bun.sleep(50);
    }
  }
  throw new Error("nginx did not start");
}

interface Result {
  rps: number;
  p99: string;
  errors: string;
}

async function wrk(port: number): Promise<Result> {
  const out = await exec(["/usr/bin/wrk", "-t1", "-c64", `-d${DURATION}`, "--latency", "-H", "Host: bench.test", `http://127.0.0.1:${port}/`]);
  if (out.code !== 0) throw new Error(`wrk failed: ${out.stderr}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out.stdout)?.[1]);
  const p99 = /99%\s+(\S+)/.exec(out.stdout)?.[1] ?? "?";
  const errors = /Non-2xx.*|Socket errors.*/.exec(out.stdout)?.[0] ?? "none";
  return { rps, p99, errors };
}

try {
  const upstreamPort = await spawnBun("router-upstream.ts");
  const routerPort = await spawnBun("router-server.ts", [String(upstreamPort)]);
  const nginxPort = await startNginx(upstreamPort);
  const check = await fetch(`http://127.0.0.1:${routerPort}/`, { headers: { host: "bench.test" } });
  if (check.status !== 200) throw new Error(`router answered ${check.status}`);
  await check.text();
  // warm both
  await exec(["/usr/bin/wrk", "-t1", "-c64", "-d2s", "-H", "Host: bench.test", `http://127.0.0.1:${routerPort}/`]);
  await exec(["/usr/bin/wrk", "-t1", "-c64", "-d2s", "-H", "Host: bench.test", `http://127.0.0.1:${nginxPort}/`]);
  const ratios: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const router = await wrk(routerPort);
    const nginx = await wrk(nginxPort);
    const ratio = router.rps / nginx.rps;
    ratios.push(ratio);
    console.log(`round ${round}`);
    console.log(`  router  ${router.rps.toFixed(0).padStart(7)} req/s  p99 ${router.p99.padStart(7)}  errors: ${router.errors}`);
    console.log(`  nginx   ${nginx.rps.toFixed(0).padStart(7)} req/s  p99 ${nginx.p99.padStart(7)}  errors: ${nginx.errors}`);
    console.log(`  router/nginx ${ratio.toFixed(2)}x`);
  }
  if (ROUNDS > 1) console.log(`mean ratio ${(ratios.reduce((a, b) => a + b, 0) / ratios.length).toFixed(2)}x`);
} finally {
  for (const child of children) child.kill("SIGTERM");
  await Promise.all(children.map((c) => c.exited));
  rmSync(dir, { recursive: true, force: true });
}
