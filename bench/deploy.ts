/**
 * Deploy benchmark: `bun bench/deploy.ts` (needs Docker and the stack images).
 * Boots the compiled daemon, pushes the hello fixture twice (cold cache, then a
 * one-line change with a warm cache) and prints, per push: the time from the
 * start of `git push` until the router serves the new version (polled every
 * 20 ms), the buildpack time the pipeline reports, and the platform overhead =
 * time to serving − buildpack time (transfer, checkout, release, replica boot,
 * health check, switch). Anchor: the goal is an overhead ≤ 2 s.
 */
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { CliUser, startDaemon, tempDir } from "../test/support/daemon.ts";

const app = `bench-${Math.random().toString(36).slice(2, 7)}`;
const daemon = await startDaemon();
const user = new CliUser(daemon.url);
const repo = join(tempDir("bench"), app);

async function run(argv: string[]) {
  const proc = Bun.spawn(argv, { cwd: repo, env: { ...process.env, HOME: user.home, GIT_TERMINAL_PROMPT: "0" }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`${argv.join(" ")} failed:\n${err}`);
  return out + err;
}

try {
  await user.ok(["signup", "--email", "bench@example.com", "--socket", daemon.socket], { env: { BEAMSTALK_PASSWORD: "bench password" } });
  cpSync(resolve(import.meta.dir, "../test/fixtures/apps/hello"), repo, { recursive: true });
  const git = ["git", "-c", "user.email=b@example.com", "-c", "user.name=b"];
  await run([...git, "init", "-q", "-b", "main"]);
  await run([...git, "add", "-A"]);
  await run([...git, "commit", "-qm", "v1"]);
  await user.ok(["apps:create", app], { cwd: repo });

  const rows: string[][] = [];
  for (const [label, marker] of [["first build (cold cache)", "hello v1"], ["second build (warm cache)", "hello v2"]] as const) {
    if (marker !== "hello v1") {
      const file = join(repo, "lib/hello/version.ex");
      writeFileSync(file, readFileSync(file, "utf8").replace("hello v1", marker));
      await run([...git, "commit", "-qam", marker]);
    }
    const started = performance.now();
    let servingAt = 0;
    const pushing = run([...git, "push", "beamstalk", "main"]);
    while (!servingAt) {
      const res = await fetch(daemon.url, { headers: { host: `${app}.apps.test` } }).catch(() => null);
      if ((await res?.text())?.startsWith(marker)) servingAt = performance.now();
      else await Bun.sleep(20);
    }
    const output = await pushing;
    if (process.env.BENCH_VERBOSE) console.error(output.split("\n").filter((l) => /started in|healthy|Built in|rollout|draining|Compress|Building/.test(l)).join("\n"));
    const wall = (servingAt - started) / 1000;
    const build = Number(/Built in ([\d.]+) s/.exec(output)?.[1]);
    const rollout = Number(/rollout ([\d.]+) s/.exec(output)?.[1]);
    const body = await (await fetch(daemon.url, { headers: { host: `${app}.apps.test` } })).text();
    if (!body.startsWith(marker)) throw new Error(`expected ${marker}, got ${body}`);
    rows.push([label, wall.toFixed(2), build.toFixed(2), rollout.toFixed(2), (wall - build).toFixed(2)]);
  }
  console.log("push                        to serving s  build s  rollout s  overhead s (goal ≤ 2)");
  for (const r of rows) console.log(`${r[0]!.padEnd(28)}${r[1]!.padStart(12)}  ${r[2]!.padStart(7)}  ${r[3]!.padStart(9)}  ${r[4]!.padStart(10)}`);
} finally {
  await user.run(["apps:destroy", "-a", app, "--confirm", app]);
  await daemon.stop();
  user.cleanup();
}
