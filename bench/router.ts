/**
 * Router vs nginx, same upstream, same run: `bun bench/router.ts`.
 * Starts a Bun upstream, the router (own process) and nginx (1 worker,
 * keep-alive upstream), runs `wrk -t1 -c64 -d10s --latency` against each,
 * prints req/s, p99, each proxy's CPU per request (all its threads: Bun's
 * fetch client has its own) and the ratio, and stops everything it started by
 * PID. BENCH_ROUNDS=n interleaves n rounds (the machine is shared: compare
 * within a round).
 */
import { BENCH_HOST, Bench, NGINX_PROXY_HEADERS, warm, wrkWithCpu } from "./support.ts";

const DURATION = process.env.BENCH_DURATION ?? "10s";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const bench = new Bench("beamstalk-bench-");

try {
  const upstreamPort = await bench.spawnBun("router-upstream.ts");
  const { port: routerPort, proc: routerProc } = await bench.spawnBunProc("router-server.ts", [String(upstreamPort)]);
  const { port: nginxPort, proc: nginxProc } = await bench.startNginx({
    upstreamPort,
    server: (port) => `    listen 127.0.0.1:${port};
    location / {
${NGINX_PROXY_HEADERS}
    }`,
  });
  const check = await fetch(`http://127.0.0.1:${routerPort}/`, { headers: { host: BENCH_HOST } });
  if (check.status !== 200) throw new Error(`router answered ${check.status}`);
  await check.text();
  const routerUrl = `http://127.0.0.1:${routerPort}/`;
  const nginxUrl = `http://127.0.0.1:${nginxPort}/`;
  // warm both
  await warm(routerUrl);
  await warm(nginxUrl);
  const ratios: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const router = await wrkWithCpu(routerUrl, DURATION, routerProc.pid);
    const nginx = await wrkWithCpu(nginxUrl, DURATION, nginxProc.pid);
    const ratio = router.rps / nginx.rps;
    ratios.push(ratio);
    console.log(`round ${round}`);
    console.log(`  router  ${router.rps.toFixed(0).padStart(7)} req/s  p99 ${router.p99.padStart(7)}  cpu ${router.cpuUsPerReq.toFixed(1).padStart(5)} us/req  errors: ${router.errors}`);
    console.log(`  nginx   ${nginx.rps.toFixed(0).padStart(7)} req/s  p99 ${nginx.p99.padStart(7)}  cpu ${nginx.cpuUsPerReq.toFixed(1).padStart(5)} us/req  errors: ${nginx.errors}`);
    console.log(`  router/nginx ${ratio.toFixed(2)}x`);
  }
  if (ROUNDS > 1) console.log(`mean ratio ${(ratios.reduce((a, b) => a + b, 0) / ratios.length).toFixed(2)}x`);
} finally {
  await bench.stop();
}
