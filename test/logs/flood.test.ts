import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { makeSlug } from "../contract/test-slug.ts";
import { closedPort } from "./receivers.ts";

/**
 * A replica that floods its output must not grow the collector's memory: the
 * collector (with the store and a drain that is down) runs in a child process
 * while a container prints 300 MB of lines; we sample the child's RSS from
 * /proc and assert a bound.
 */
const RUN = `lf${Math.random().toString(36).slice(2, 8)}`;
const APP = `${RUN}-flood`;
const FLOOD_BYTES = 300 * 1024 * 1024;
/** flood-child's replica: `yes LINE | head -c FLOOD_BYTES` (the last line cut, then ended by `echo`), and FLOOD-DONE. */
const LINE_BYTES = "flood ".repeat(16).length + "0123456789abcdef".length + 1;
const WRITTEN = Math.ceil(FLOOD_BYTES / LINE_BYTES) + 1;
/**
 * Measured: an idle collector process is ~85 MB. Reading Docker's files, the collector
 * records ~200,000 lines/s of the flood and peaks at 231-233 MB (median ~155 MB): garbage
 * the GC has not taken yet. Through the API it recorded far fewer and peaked ~195 MB.
 */
const RSS_BOUND = 300 * 1024 * 1024;
const docker = new Docker({ socketPath: "/var/run/docker.sock" });
const dir = mkdtempSync(join(tmpdir(), "beamstalk-flood-"));

afterAll(async () => {
  for (const c of await docker.listContainers({ all: true, filters: { label: [`beamstalk.test=${RUN}`] } })) {
    await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
  }
  for (const n of await docker.listNetworks({ filters: { label: [`beamstalk.test=${RUN}`] } })) {
    await docker.getNetwork(n.Id).remove().catch(() => {});
  }
  rmSync(dir, { recursive: true, force: true });
});

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

test("a replica printing 300 MB of lines: the collector's RSS stays bounded, the app log stays capped", async () => {
  const slug = await makeSlug(dir, "slug.tar.gz", { files: { "README": "flood\n" } });
  const child = Bun.spawn([process.execPath, join(import.meta.dir, "flood-child.ts"), RUN, APP, dir, slug, String(FLOOD_BYTES), String(await closedPort())], {
    stdout: "pipe",
    stderr: "inherit",
  });
  let last = { lines: 0, dropped: 0, done: false, missed: 0, rss: 0 };
  let maxRss = 0;
  const samples: number[] = [];
  const timeline: number[] = [];
  const reading = (async () => {
    const decoder = new TextDecoder();
    let rest = "";
    for await (const chunk of child.stdout) {
      rest += decoder.decode(chunk, { stream: true });
      const parts = rest.split("\n");
      rest = parts.pop()!;
      for (const p of parts) if (p.startsWith("{")) last = JSON.parse(p);
    }
  })();
  const began = Date.now();
  try {
    while (!last.done && Date.now() - began < 240_000) {
      await Bun.sleep(100);
      const rss = rssOf(child.pid);
      samples.push(rss);
      timeline.push(rss);
      maxRss = Math.max(maxRss, rss);
    }
  } finally {
    child.kill("SIGTERM");
    await child.exited;
    await reading;
  }
  const seconds = (Date.now() - began) / 1000;
  const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
  console.log(
    `flood: ${WRITTEN} lines (${mb(FLOOD_BYTES)} MB) in ${seconds.toFixed(1)} s: ${last.lines} recorded (${Math.round(last.lines / seconds)}/s), ${last.dropped} counted as dropped; collector RSS max ${mb(maxRss)} MB, ` +
      `median ${mb(samples.sort((a, b) => a - b)[samples.length >> 1] ?? 0)} MB; down drain missed ${last.missed}`,
  );
  expect(last.done).toBe(true);
  // Docker keeps 30 MB of a replica's output (10 MB × 3): a follower slower than the flood
  // loses the rest on Docker's side, which is what keeps it out of our memory. What is
  // lost is counted: recorded and dropped add up to what the replica wrote.
  expect(last.lines).toBeGreaterThan(100_000);
  expect(last.lines + last.dropped).toBe(WRITTEN);
  expect(maxRss).toBeLessThan(RSS_BOUND);
  // No growth trend: the second half of the run peaks no higher than the first half did, give or take.
  const half = timeline.length >> 1;
  expect(Math.max(...timeline.slice(half))).toBeLessThan(Math.max(...timeline.slice(0, half)) + 64 * 1024 * 1024);
  expect(last.missed).toBeGreaterThan(last.lines - 20_000);
  const appDir = join(dir, "logs", APP);
  const onDisk = readdirSync(appDir).filter((f) => f.startsWith("app.log")).reduce((n, f) => n + statSync(join(appDir, f)).size, 0);
  expect(onDisk).toBeLessThanOrEqual(3 * 4 * 1024 * 1024);
}, 300_000);
