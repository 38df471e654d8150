/**
 * HTTPS through src/tls's listener (node:tls feeding the router's front) vs nginx with TLS (1 worker,
 * keep-alive upstream, same certificate, same Bun upstream): `bun bench/tls.ts`.
 * Measures keep-alive requests/s and p99 (wrk -t1 -c64), then new TLS
 * handshakes per second (wrk with `Connection: close`: one handshake per
 * request), with each proxy's CPU µs per request, and prints the ratios.
 * BENCH_ROUNDS=n interleaves n keep-alive rounds (compare within a round). Stops everything it started by PID.
 */
import { join } from "node:path";
import { exec } from "../src/lib/exec.ts";
import { BENCH_HOST, Bench, NGINX_PROXY_HEADERS, warm, wrkWithCpu, type WrkResult } from "./support.ts";

const DURATION = process.env.BENCH_DURATION ?? "10s";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const bench = new Bench("beamstalk-bench-tls-");

/** One ECDSA P-256 certificate for bench.test, used by both servers. */
async function makeCert(): Promise<{ cert: string; key: string }> {
  const cert = join(bench.dir, "cert.pem");
  const key = join(bench.dir, "key.pem");
  const out = await exec([
    "openssl",
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "2",
    "-subj",
    "/CN=bench.test",
    "-addext",
    "subjectAltName=DNS:bench.test",
  ]);
  if (out.code !== 0) throw new Error(`openssl failed: ${out.stderr}`);
  return { cert, key };
}

try {
  const tls = await makeCert();
  const upstreamPort = await bench.spawnBun("router-upstream.ts");
  const { port: oursPort, proc: oursProc } = await bench.spawnBunProc("tls-server.ts", [String(upstreamPort), tls.cert, tls.key]);
  const { port: nginxPort, proc: nginxProc } = await bench.startNginx({
    upstreamPort,
    scheme: "https",
    server: (port) => `    listen 127.0.0.1:${port} ssl;
    server_name bench.test;
    ssl_certificate ${tls.cert};
    ssl_certificate_key ${tls.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
    keepalive_requests 100000;
    location / {
${NGINX_PROXY_HEADERS}
    }`,
  });
  for (const port of [oursPort, nginxPort]) {
    const check = await fetch(`https://127.0.0.1:${port}/`, { headers: { host: BENCH_HOST }, tls: { rejectUnauthorized: false } });
    if (check.status !== 200) throw new Error(`port ${port} answered ${check.status}`);
    await check.text();
    await warm(`https://127.0.0.1:${port}/`);
  }
  const oursUrl = `https://127.0.0.1:${oursPort}/`;
  const nginxUrl = `https://127.0.0.1:${nginxPort}/`;
  const row = (name: string, r: WrkResult & { cpuUsPerReq: number }) =>
    `${name.padEnd(34)} ${r.rps.toFixed(0).padStart(8)} req/s   p99 ${r.p99.padStart(8)}   cpu ${r.cpuUsPerReq.toFixed(1).padStart(6)} us/req   errors: ${r.errors}`;
  const close = ["-H", "Connection: close"];
  const ratios: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const ours = await wrkWithCpu(oursUrl, DURATION, oursProc.pid);
    const nginx = await wrkWithCpu(nginxUrl, DURATION, nginxProc.pid);
    ratios.push(ours.rps / nginx.rps);
    console.log(`HTTPS keep-alive (wrk -t1 -c64 -d${DURATION})${ROUNDS > 1 ? `, round ${round}` : ""}:`);
    console.log(row("  beamstalk (node:tls + front)", ours));
    console.log(row("  nginx 1 worker", nginx));
    console.log(`  ratio beamstalk/nginx: ${(ours.rps / nginx.rps).toFixed(2)}x`);
  }
  if (ROUNDS > 1) console.log(`  mean keep-alive ratio ${(ratios.reduce((a, b) => a + b, 0) / ratios.length).toFixed(2)}x`);
  const oursHs = await wrkWithCpu(oursUrl, DURATION, oursProc.pid, close);
  const nginxHs = await wrkWithCpu(nginxUrl, DURATION, nginxProc.pid, close);
  console.log(`New TLS handshakes (Connection: close, one ECDSA P-256 handshake per request, no session resumption):`);
  console.log(row("  beamstalk (node:tls + front)", oursHs));
  console.log(row("  nginx 1 worker", nginxHs));
  console.log(`  ratio beamstalk/nginx: ${(oursHs.rps / nginxHs.rps).toFixed(2)}x`);
} finally {
  await bench.stop();
}
