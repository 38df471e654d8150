/**
 * Hot upgrade benchmark: `bun bench/hot-upgrade.ts` (needs Docker and the stack
 * images; builds dist/beamstalk first with `bun build.ts`). Boots the compiled
 * daemon, deploys the hello fixture on 3 replicas, then alternates, ROUNDS times:
 * a normal push (rolling deploy: new containers, health checks, switch, drain)
 * and a hot push (`-o hot`: the running nodes upgraded in place), each a
 * one-line change with a version bump. For each push it prints the time from
 * the start of `git push` until every replica answers with the new version
 * (each replica polled directly every 20 ms), the buildpack time, and the time
 * after the build: for the hot push, the end of the build to every node
 * upgraded. Anchor: the rolling deploy of the same change in the same run.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliUser, startDaemon } from "../test/support/daemon.ts";
import { createFixtureApp, removeAppContainers } from "../test/support/fixture-app.ts";

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const REPLICAS = 3;
const app = `hotb-${Math.random().toString(36).slice(2, 7)}`;
const daemon = await startDaemon();
const user = new CliUser(daemon.url);

/** The IPs of the app's running replicas, straight from Docker (ps would also ask every node over rpc). */
async function nodes(): Promise<string[]> {
  const ids = Bun.spawnSync(["docker", "ps", "-q", "--filter", `label=beamstalk.app=${app}`, "--filter", "label=beamstalk.managed"]).stdout.toString().trim();
  if (!ids) return [];
  const inspect = Bun.spawnSync(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", ...ids.split("\n")]);
  return inspect.stdout.toString().trim().split("\n").filter(Boolean);
}

/** Resolves when `count` replicas all answer GET / with the marker; polled every 20 ms. */
async function everyReplicaServes(marker: string): Promise<number> {
  for (;;) {
    const ips = await nodes().catch(() => []);
    if (ips.length === REPLICAS) {
      const answers = await Promise.all(ips.map((ip) => fetch(`http://${ip}:4000/`).then((r) => r.text(), () => "")));
      if (answers.every((a) => a === `${marker}\n`)) return performance.now();
    }
    await Bun.sleep(20);
  }
}

try {
  await user.ok(["signup", "--email", "bench@example.com", "--socket", daemon.socket], { env: { BEAMSTALK_PASSWORD: "bench password" } });
  const fixture = await createFixtureApp(user, app);
  await fixture.push();
  await user.ok(["ps:scale", "-a", app, "--replicas", String(REPLICAS)]);

  let minor = 1;
  const rows: { kind: string; total: number; build: number; after: number; reported: number }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of ["rolling", "hot"] as const) {
      minor++;
      const marker = `hello v${minor}`;
      const edit = (path: string, from: RegExp, to: string) => {
        const file = join(fixture.repo, path);
        writeFileSync(file, readFileSync(file, "utf8").replace(from, to));
      };
      edit("mix.exs", /version: "[^"]+"/, `version: "0.${minor}.0"`);
      edit("lib/hello/version.ex", /"hello v[^"]*"/, `"${marker}"`);
      await fixture.git(["commit", "-qam", marker]);
      const started = performance.now();
      const serving = everyReplicaServes(marker);
      const push = await fixture.git(kind === "hot" ? ["push", "-o", "hot", "beamstalk", "main"] : ["push", "beamstalk", "main"]);
      if (push.code !== 0) throw new Error(`push failed:\n${push.err}`);
      const servedAt = await serving;
      const build = Number(/built in ([\d.]+) s/.exec(push.err)?.[1]);
      const total = (servedAt - started) / 1000;
      // What the pipeline itself reports: the rollout (start to switch) or the in-place install.
      const reported = Number((/upgraded in place in ([\d.]+) s/.exec(push.err) ?? /rollout ([\d.]+) s/.exec(push.err))?.[1]);
      rows.push({ kind, total, build, after: total - build, reported });
      if (process.env.BENCH_VERBOSE) console.error(push.err.split("\n").filter((l) => /upgraded in place|rollout|built in/.test(l)).join("\n"));
    }
  }
  console.log(`hello fixture, ${REPLICAS} replicas, ${ROUNDS} rounds; times in seconds from the start of git push`);
  console.log("push       to every replica serving  buildpack  after the build  pipeline: rollout / install");
  for (const r of rows) console.log(`${r.kind.padEnd(10)} ${r.total.toFixed(2).padStart(25)}  ${r.build.toFixed(2).padStart(9)}  ${r.after.toFixed(2).padStart(15)}  ${r.reported.toFixed(2).padStart(27)}`);
  const mean = (kind: string, key: "total" | "after") => rows.filter((r) => r.kind === kind).reduce((s, r) => s + r[key], 0) / ROUNDS;
  console.log(`after the build, hot vs rolling (anchor): ${mean("hot", "after").toFixed(2)} s vs ${mean("rolling", "after").toFixed(2)} s = ${(mean("hot", "after") / mean("rolling", "after")).toFixed(2)}×`);
  console.log(`whole push, hot vs rolling (anchor): ${mean("hot", "total").toFixed(2)} s vs ${mean("rolling", "total").toFixed(2)} s = ${(mean("hot", "total") / mean("rolling", "total")).toFixed(2)}×`);
} finally {
  await user.run(["apps:destroy", "-a", app, "--confirm", app]);
  await daemon.stop();
  removeAppContainers(app);
  user.cleanup();
}
