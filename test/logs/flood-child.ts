/**
 * The collector's side of the flood test, in its own process so its RSS can be
 * measured: a store, a drain that is down, the collector, and one replica that
 * prints FLOOD_BYTES of lines as fast as it can. Prints `{"lines":n}` now and then.
 */
import { join } from "node:path";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import { Secret } from "../../src/lib/secret.ts";
import { Collector } from "../../src/logs/collector.ts";
import { LogDrains } from "../../src/logs/drains.ts";
import { LogStore } from "../../src/logs/store.ts";
import { DockerRunner } from "../../src/runner/docker/runner.ts";

const [run, app, dir, slug, bytes, downPort] = process.argv.slice(2) as [string, string, string, string, string, string];
const logger = createMemoryLogger();
const runner = new DockerRunner({ bootDir: join(dir, "runner"), logger, labels: { "beamstalk.test": run }, bootTimeoutMs: 30_000 });
const store = new LogStore({ dir: join(dir, "logs"), rotation: { maxFileBytes: 4 * 1024 * 1024, files: 3 } });
const drains = new LogDrains({
  records: { all: () => [{ id: 1, app, url: new Secret(`syslog://127.0.0.1:${downPort}`), createdAt: "" }], add: () => { throw new Error("no"); }, remove: () => false },
  store,
  logger,
  sender: { backoffMs: { min: 100, max: 1000 } },
});
drains.start();
/** The app's lines recorded (the boot script's apart), and the lines the collector said were dropped. */
let lines = 0;
let dropped = 0;
let done = false;
store.onAppend((_app, entry) => {
  if (entry.source === "platform") {
    const m = /^(\d+) lines dropped: /.exec(entry.line);
    if (m) dropped += Number(m[1]);
    return;
  }
  if (entry.source === "app" && !entry.line.startsWith("beamstalk-boot: ")) lines++;
  if (entry.line === "FLOOD-DONE") done = true;
});
const collector = new Collector({ runner, store, logger, intervalMs: 1000 });
const line = "flood ".repeat(16) + "0123456789abcdef";
await runner.start({
  app, release: 1, process: "web", index: 1, image: "beamstalk/run:bookworm", slugPath: slug, env: {}, port: 4000, size: 0.5,
  command: `yes '${line}' | head -c ${Number(bytes)}; echo; echo FLOOD-DONE; exec sleep 3600`,
});
await collector.start();
const report = () => process.stdout.write(JSON.stringify({ lines, dropped, done, missed: drains.list(app)[0]?.missed ?? 0, rss: process.memoryUsage().rss }) + "\n");
const timer = setInterval(report, 200);
process.on("SIGTERM", async () => {
  clearInterval(timer);
  report();
  await collector.stop();
  await drains.stop();
  process.exit(0);
});
