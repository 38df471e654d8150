/**
 * Where Bun's ceilings lie for this proxy, against nginx, same upstream, same
 * run: `bun bench/ceilings.ts`. Interleaves wrk -t1 -c64 over the router, a
 * Bun.serve answering by itself, a raw byte pipe, a socket-level proxy
 * prototype (see each ceiling-*.ts) and nginx (1 worker, keep-alive
 * upstream); prints req/s, p99, CPU µs per request and the ratio to nginx.
 * BENCH_ROUNDS (3), BENCH_DURATION (5s). Stops everything it started by PID.
 */
import { BENCH_HOST, Bench, type Child, NGINX_PROXY_HEADERS, warm, wrkWithCpu } from "./support.ts";

const DURATION = process.env.BENCH_DURATION ?? "5s";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const bench = new Bench("beamstalk-bench-ceilings-");

try {
  const upstreamPort = await bench.spawnBun("router-upstream.ts");
  const targets: { name: string; url: string; proc: Child }[] = [];
  for (const [name, script] of [
    ["router", "router-server.ts"],
    ["bun-static", "ceiling-static.ts"],
    ["raw-pipe", "ceiling-pipe.ts"],
    ["socket-proto", "ceiling-socket-proxy.ts"],
  ] as const) {
    const { port, proc } = await bench.spawnBunProc(script, [String(upstreamPort)]);
    targets.push({ name, url: `http://127.0.0.1:${port}/`, proc });
  }
  const nginx = await bench.startNginx({ upstreamPort, server: (port) => `    listen 127.0.0.1:${port};\n    location / {\n${NGINX_PROXY_HEADERS}\n    }` });
  targets.push({ name: "nginx", url: `http://127.0.0.1:${nginx.port}/`, proc: nginx.proc });
  for (const { name, url } of targets) {
    const check = await fetch(url, { headers: { host: BENCH_HOST } });
    if (check.status !== 200) throw new Error(`${name} answered ${check.status}`);
    await check.text();
    await warm(url);
  }
  const ratios = new Map<string, number[]>();
  for (let round = 1; round <= ROUNDS; round++) {
    console.log(`round ${round}`);
    const results = [];
    for (const target of targets) results.push({ name: target.name, ...(await wrkWithCpu(target.url, DURATION, target.proc.pid)) });
    const base = results.at(-1)!.rps;
    for (const r of results) {
      (ratios.get(r.name) ?? ratios.set(r.name, []).get(r.name)!).push(r.rps / base);
      console.log(`  ${r.name.padEnd(13)} ${r.rps.toFixed(0).padStart(7)} req/s  p99 ${r.p99.padStart(8)}  cpu ${r.cpuUsPerReq.toFixed(1).padStart(5)} us/req  ${(r.rps / base).toFixed(2)}x  errors: ${r.errors}`);
    }
  }
  console.log(`mean ratio to nginx: ${[...ratios].map(([name, v]) => `${name} ${(v.reduce((a, b) => a + b, 0) / v.length).toFixed(2)}x`).join(", ")}`);
} finally {
  await bench.stop();
}
