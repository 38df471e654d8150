import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import { Collector } from "../../src/logs/collector.ts";
import { LogStore } from "../../src/logs/store.ts";
import { JsonLogFollower } from "../../src/runner/docker/json-log.ts";
import { DockerRunner } from "../../src/runner/docker/runner.ts";
import type { LogFollowItem, ReplicaSpec } from "../../src/runner/types.ts";
import { makeSlug } from "../contract/test-slug.ts";
import { until } from "./receivers.ts";

/**
 * Following Docker's json-file logs from the files, against real containers: lines a
 * replica writes faster than they are read are counted when Docker's ring lets them
 * go, and a cursor resumes exactly.
 */
const RUN = `lj${Math.random().toString(36).slice(2, 8)}`;
const APP = `${RUN}-app`;
const docker = new Docker({ socketPath: "/var/run/docker.sock" });
const dir = mkdtempSync(join(tmpdir(), "beamstalk-json-log-"));
const logger = createMemoryLogger();
const runner = new DockerRunner({ bootDir: join(dir, "runner"), logger, labels: { "beamstalk.test": RUN }, bootTimeoutMs: 30_000 });
let slug = "";
/** 100 bytes of payload after the number: an entry of ~170 bytes in Docker's file. */
const PAD = "x".repeat(100);

const spec = (process: string, command: string): ReplicaSpec => ({
  app: APP, release: 1, process, index: 1, image: "beamstalk/run:bookworm", command, slugPath: slug, env: {}, port: 4000, size: 0.5,
});
const numbered = (count: number) => `seq -f 'line %.0f ${PAD}' 1 ${count}; echo END; exec sleep 3600`;
const logPath = async (id: string) => (await docker.getContainer(id).inspect()).LogPath;
/** The number of a "line N ..." line, or null. */
const numberOf = (line: string) => (/^line (\d+) /.exec(line) ? Number(/^line (\d+) /.exec(line)![1]) : null);

async function lastLineIs(id: string, wanted: string): Promise<boolean> {
  for await (const { line } of runner.logs(id, { tail: 1 })) if (line === wanted) return true;
  return false;
}

beforeAll(async () => {
  slug = await makeSlug(dir, "slug.tar.gz", { files: { "README": "no build needed\n" } });
});

afterAll(async () => {
  for (const c of await docker.listContainers({ all: true, filters: { label: [`beamstalk.test=${RUN}`] } })) {
    await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
  }
  await runner.removeApp(APP).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

describe("a json-file log followed from Docker's files", () => {
  test("a reader that falls behind gets every line Docker kept, in order, and a count of exactly the lines it dropped", async () => {
    const total = 400_000; // ~68 MB in Docker's files: seven rotations of 10 MB
    const replica = await runner.start(spec("flood", numbered(total)));
    const controller = new AbortController();
    const follower = new JsonLogFollower(await logPath(replica.id), { signal: controller.signal, maxHeld: 2 });
    const it = follower[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    // The reader stops while the replica writes everything: Docker rotates past what is held.
    for (let i = 0; i < 600 && !(await lastLineIs(replica.id, "END")); i++) await Bun.sleep(100);
    expect(await lastLineIs(replica.id, "END")).toBe(true);
    const items: LogFollowItem[] = [first.value as LogFollowItem];
    for (;;) {
      const next = await it.next();
      if (next.done) break;
      items.push(next.value);
      if ("line" in next.value && next.value.line === "END") break;
    }
    controller.abort();
    await it.return?.(undefined);
    const numbers = items.flatMap((item) => ("line" in item && numberOf(item.line) !== null ? [numberOf(item.line)!] : []));
    const dropped = items.flatMap((item) => ("dropped" in item ? [item.dropped] : []));
    console.log(`json-log: ${total} lines written, ${numbers.length} read, ${dropped.reduce((a, b) => a! + (b ?? 0), 0)} counted as dropped in ${dropped.length} file(s)`);
    expect(dropped.length).toBeGreaterThan(0);
    expect(dropped.every((n) => typeof n === "number" && n > 0)).toBe(true);
    // Nothing uncounted: what was read and what was dropped add up to what was written.
    expect(numbers.length + dropped.reduce((a, b) => a! + b!, 0)!).toBe(total);
    // In order, no line twice, and the newest lines (the ones Docker kept) all there.
    for (let i = 1; i < numbers.length; i++) expect(numbers[i]!).toBeGreaterThan(numbers[i - 1]!);
    expect(numbers.at(-1)).toBe(total);
    expect(items.at(-1)).toEqual({ stream: "stdout", line: "END" });
    await runner.stop(replica.id, 1); // the collectors below follow every replica there is
  }, 120_000);

  test("a cursor resumes at the next line: none twice, none missing; a cursor whose file is gone says lines were lost", async () => {
    const replica = await runner.start(spec("resume", numbered(3000)));
    for (let i = 0; i < 300 && !(await lastLineIs(replica.id, "END")); i++) await Bun.sleep(100);
    const path = await logPath(replica.id);
    const seen: number[] = [];
    const controller = new AbortController();
    const follower = new JsonLogFollower(path, { signal: controller.signal });
    for await (const item of follower) {
      if ("line" in item && numberOf(item.line) !== null) seen.push(numberOf(item.line)!);
      if (seen.length === 1234) break;
    }
    const cursor = follower.cursor();
    expect(cursor).toMatch(/^\d+:\d+:\d+$/);
    const again = new JsonLogFollower(path, { from: cursor });
    for await (const item of again) {
      expect("dropped" in item).toBe(false);
      if ("line" in item && numberOf(item.line) !== null) seen.push(numberOf(item.line)!);
      if ("line" in item && item.line === "END") break;
    }
    expect(seen).toEqual(Array.from({ length: 3000 }, (_, i) => i + 1));

    const stale = new JsonLogFollower(path, { from: "1:1:0" });
    const items: LogFollowItem[] = [];
    for await (const item of stale) {
      items.push(item);
      if ("line" in item && item.line === "END") break;
    }
    expect(items[0]).toEqual({ dropped: null });
    expect(items.filter((i) => "line" in i && numberOf(i.line) !== null)).toHaveLength(3000);
    await runner.stop(replica.id, 1);
  }, 60_000);

  test("a cursor saved by an earlier version (lines counted through the API) is honoured once: no line twice after an upgrade", async () => {
    const store = new LogStore({ dir: join(dir, "logs-upgrade") });
    const replica = await runner.start(spec("upgraded", numbered(10)));
    for (let i = 0; i < 300 && !(await lastLineIs(replica.id, "END")); i++) await Bun.sleep(100);
    const all: string[] = [];
    for await (const { line } of runner.logs(replica.id)) all.push(line);
    const fifth = all.findIndex((l) => numberOf(l) === 5);
    expect(fifth).toBeGreaterThan(0);
    const app = replica.app;
    await Bun.write(join(store.appDir(app), ".cursors.json"), JSON.stringify({ [replica.id]: { n: fifth + 1, last: Bun.hash(all[fifth]!).toString(36) } }));
    const collector = new Collector({ runner, store, logger, intervalMs: 200 });
    await collector.start();
    const lines = () => store.tail(app, 1000).filter((e) => e.replica === "upgraded.1" && e.source === "app").map((e) => e.line);
    await until("the replica's END", () => lines().includes("END"));
    await collector.stop();
    expect(lines().map(numberOf).filter((n) => n !== null)).toEqual([6, 7, 8, 9, 10]);
    store.close();
    await runner.stop(replica.id, 1);
  }, 60_000);

  test("the collector puts the count in the app's log as a platform line", async () => {
    const store = new LogStore({ dir: join(dir, "logs") });
    const replica = await runner.start(spec("web", numbered(10)));
    for (let i = 0; i < 300 && !(await lastLineIs(replica.id, "END")); i++) await Bun.sleep(100);
    // The same runner, whose follower holds no file back: the collector is given a
    // cursor naming a file Docker no longer has, as after a long outage.
    const collector = new Collector({ runner, store, logger, intervalMs: 200 });
    await Bun.write(join(store.appDir(APP), ".cursors.json"), JSON.stringify({ [replica.id]: { n: 0, last: "", at: "1:1:0" } }));
    await collector.start();
    const entries = () => store.tail(APP, 1000).filter((e) => e.replica === "web.1");
    await until("the replica's lines", () => entries().some((e) => e.line === "END"));
    await collector.stop();
    const platform = entries().filter((e) => e.source === "platform").map((e) => e.line);
    expect(platform).toEqual(["lines were dropped: web.1 wrote them while Beamstalk was not reading, and Docker rotated them away (how many is not known)"]);
    expect(entries().filter((e) => e.source === "app" && numberOf(e.line) !== null)).toHaveLength(10);
    store.close();
  }, 60_000);
});
