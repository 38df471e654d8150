import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import { Collector } from "../../src/logs/collector.ts";
import { LogStore } from "../../src/logs/store.ts";
import { DockerRunner } from "../../src/runner/docker/runner.ts";
import type { ReplicaSpec } from "../../src/runner/types.ts";
import { makeSlug } from "../contract/test-slug.ts";
import { until } from "./receivers.ts";

/** The collector against real containers: every object carries beamstalk.test=<run id>. */
const IMAGE = "beamstalk/run:bookworm";
const RUN = `lc${Math.random().toString(36).slice(2, 8)}`;
const APP = `${RUN}-app`;
const docker = new Docker({ socketPath: "/var/run/docker.sock" });
const dir = mkdtempSync(join(tmpdir(), "beamstalk-collector-"));
const logger = createMemoryLogger();
const runner = new DockerRunner({ bootDir: join(dir, "runner"), logger, labels: { "beamstalk.test": RUN }, bootTimeoutMs: 30_000 });
let slug = "";

const spec = (process: string, command: string): ReplicaSpec => ({
  app: APP, release: 1, process, index: 1, image: IMAGE, command, slugPath: slug, env: {}, port: 4000, size: 0.5,
});

beforeAll(async () => {
  slug = await makeSlug(dir, "slug.tar.gz", { files: { "README": "no build needed\n" } });
});

afterAll(async () => {
  await runner.removeApp(APP).catch(() => {});
  for (const c of await docker.listContainers({ all: true, filters: { label: [`beamstalk.test=${RUN}`] } })) {
    await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("collector", () => {
  test("follows replicas as they come and go, names them, and resumes without repeating lines", async () => {
    const store = new LogStore({ dir: join(dir, "logs") });
    const lines = (replica: string) => store.tail(APP, 10_000).filter((e) => e.replica === replica && e.source === "app").map((e) => e.line);
    const collector = new Collector({ runner, store, logger, intervalMs: 200 });
    const web = await runner.start(spec("web", 'for i in 1 2 3; do echo "hello $i"; done; echo "to stderr" >&2; exec sleep 3600'));
    await collector.start();
    await until("web's lines", () => lines("web.1").includes("to stderr"));
    // stdout keeps its order; stderr is another pipe, so its place among them is not fixed.
    expect(lines("web.1").filter((l) => l.startsWith("hello "))).toEqual(["hello 1", "hello 2", "hello 3"]);
    expect(lines("web.1").filter((l) => l === "to stderr")).toHaveLength(1);

    // A replica that appears later is picked up by the next sync.
    const worker = await runner.start(spec("worker", 'i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 0.05; done'));
    await until("worker ticks", () => lines("worker.1").filter((l) => l.startsWith("tick ")).length >= 5);
    expect(collector.following().sort()).toEqual([web.id, worker.id].sort());

    // One that goes away is no longer followed.
    await runner.stop(web.id, 1);
    await collector.sync(APP);
    expect(collector.following()).toEqual([worker.id]);

    // A daemon restart: a new collector resumes from the saved cursors: no tick twice, none missing.
    await collector.stop();
    await Bun.sleep(500);
    const again = new Collector({ runner, store, logger, intervalMs: 200 });
    await again.start();
    const before = lines("worker.1").filter((l) => l.startsWith("tick ")).length;
    await until("ticks after the restart", () => lines("worker.1").filter((l) => l.startsWith("tick ")).length >= before + 10);
    await again.stop();
    const ticks = lines("worker.1").filter((l) => l.startsWith("tick ")).map((l) => Number(l.slice(5)));
    expect(ticks).toEqual(Array.from({ length: ticks.length }, (_, i) => i + 1));
    expect(lines("web.1").filter((l) => l === "hello 1")).toHaveLength(1);
    expect(logger.lines.join("\n")).not.toContain("logs.replay_misaligned");
    store.close();
  }, 90_000);
});
