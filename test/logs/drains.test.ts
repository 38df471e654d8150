import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import { Secret } from "../../src/lib/secret.ts";
import { LogDrains } from "../../src/logs/drains.ts";
import { LogStore } from "../../src/logs/store.ts";
import type { DrainRecords, StoredDrain } from "../../src/logs/types.ts";
import { closedPort, selfSigned, syslogReceiver, until } from "./receivers.ts";

/** Drains against real receivers on 127.0.0.1: TCP syslog, TLS syslog, HTTPS. */
const dir = mkdtempSync(join(tmpdir(), "beamstalk-drains-"));
let tls: { cert: string; key: string };

beforeAll(async () => {
  tls = await selfSigned();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function memoryRecords(): DrainRecords {
  const rows: StoredDrain[] = [];
  let next = 1;
  return {
    all: () => [...rows],
    add(app, url) {
      const row = { id: next++, app, url, createdAt: new Date().toISOString() };
      rows.push(row);
      return row;
    },
    remove(app, id) {
      const i = rows.findIndex((r) => r.app === app && r.id === id);
      if (i < 0) return false;
      rows.splice(i, 1);
      return true;
    },
  };
}

function setup(app: string, sender: ConstructorParameters<typeof LogDrains>[0]["sender"] = {}) {
  const store = new LogStore({ dir: join(dir, app) });
  const logger = createMemoryLogger();
  const drains = new LogDrains({ records: memoryRecords(), store, logger, sender: { backoffMs: { min: 50, max: 400 }, ...sender } });
  drains.start();
  const say = (line: string, replica = "web.1") => store.append(app, { source: "app", replica, line });
  return { store, drains, logger, say };
}

describe("drains", () => {
  test("syslog:// delivers RFC 5424 messages with octet-counting framing", async () => {
    const receiver = await syslogReceiver();
    const { drains, say, logger } = setup("tcp-app");
    const added = drains.add("tcp-app", `syslog://127.0.0.1:${receiver.port}`);
    expect(added).toMatchObject({ id: 1, url: `syslog://127.0.0.1:${receiver.port}`, missed: 0 });
    say("hello");
    say("line with\nnewline and ünïcode");
    await until("2 messages", () => receiver.messages.length >= 2);
    expect(receiver.messages[0]).toMatch(/^<190>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z tcp-app app web\.1 - - hello$/);
    expect(receiver.messages[1]).toEndWith(" - - line with\nnewline and ünïcode");
    expect(drains.list("tcp-app")[0]).toMatchObject({ connected: true, sent: 2, missed: 0 });
    expect(logger.lines.join("\n")).toContain("drain.added");
    await drains.stop();
    await receiver.close();
  });

  test("syslog+tls:// verifies the receiver's certificate (trusting the test CA)", async () => {
    const receiver = await syslogReceiver({ tls });
    const trusted = setup("tls-app", { ca: tls.cert });
    trusted.drains.add("tls-app", `syslog+tls://127.0.0.1:${receiver.port}`);
    trusted.say("over tls");
    await until("the TLS message", () => receiver.messages.length >= 1);
    expect(receiver.messages[0]).toEndWith("tls-app app web.1 - - over tls");
    await trusted.drains.stop();

    // Without the CA the self-signed certificate is refused: nothing is delivered, the error is shown.
    const untrusted = setup("tls-app2");
    untrusted.drains.add("tls-app2", `syslog+tls://127.0.0.1:${receiver.port}`);
    untrusted.say("must not arrive");
    await until("a certificate error", () => untrusted.drains.list("tls-app2")[0]!.last_error !== null);
    expect(untrusted.drains.list("tls-app2")[0]!.last_error).toMatch(/certificate/i);
    expect(receiver.messages).toHaveLength(1);
    await untrusted.drains.stop();
    await receiver.close();
  });

  test("https:// POSTs batches of JSON lines, with Basic auth from the URL", async () => {
    const posts: { auth: string | null; type: string | null; lines: Record<string, unknown>[]; url: string }[] = [];
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: tls.cert, key: tls.key },
      async fetch(req) {
        const text = await req.text();
        posts.push({ auth: req.headers.get("authorization"), type: req.headers.get("content-type"), url: req.url, lines: text.trim().split("\n").map((l) => JSON.parse(l)) });
        return new Response("ok");
      },
    });
    const { drains, say, logger } = setup("https-app", { ca: tls.cert, batchSize: 100, intervalMs: 50 });
    const added = drains.add("https-app", `https://drainuser:drainpass@127.0.0.1:${server.port}/ingest?token=t0ken`);
    expect(added.url).toBe(`https://[REDACTED]@127.0.0.1:${server.port}/ingest?[REDACTED]`);
    for (let i = 0; i < 250; i++) say(`https line ${i}`);
    await until("250 lines", () => posts.reduce((n, p) => n + p.lines.length, 0) >= 250);
    expect(posts.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...posts.map((p) => p.lines.length))).toBeLessThanOrEqual(100);
    expect(posts[0]!.auth).toBe(`Basic ${Buffer.from("drainuser:drainpass").toString("base64")}`);
    expect(posts[0]!.type).toBe("application/x-ndjson");
    expect(posts[0]!.url).toBe(`https://127.0.0.1:${server.port}/ingest?token=t0ken`);
    expect(posts[0]!.lines[0]).toMatchObject({ app: "https-app", source: "app", replica: "web.1", line: "https line 0" });
    expect(posts.flatMap((p) => p.lines.map((l) => l.line))).toEqual(Array.from({ length: 250 }, (_, i) => `https line ${i}`));
    expect(drains.list("https-app")[0]).toMatchObject({ sent: 250, missed: 0, connected: true });
    expect(logger.lines.join("\n")).not.toContain("drainpass");
    expect(logger.lines.join("\n")).not.toContain("t0ken");
    await drains.stop();
    server.stop(true);
  });

  test("a drain that is down blocks neither the app log nor the other drains; it counts what it missed and reconnects", async () => {
    const good = await syslogReceiver();
    const downPort = await closedPort();
    const { drains, store, say } = setup("down-app", { queueSize: 1000 });
    const down = drains.add("down-app", `syslog://127.0.0.1:${downPort}`);
    drains.add("down-app", `syslog://127.0.0.1:${good.port}`);
    const began = performance.now();
    let appendMs = 0;
    for (let batch = 0; batch < 20; batch++) {
      const t = performance.now();
      for (let i = 0; i < 1000; i++) say(`line ${batch * 1000 + i}`);
      appendMs += performance.now() - t;
      await Bun.sleep(5);
    }
    // The app log has every line, and appending never waited on the dead drain.
    expect(store.tail("down-app", 20_000)).toHaveLength(20_000);
    expect(appendMs).toBeLessThan(2000);
    await until("the good drain to get every line", () => good.messages.length >= 20_000);
    expect(good.messages.at(-1)).toEndWith(" - - line 19999");
    const status = drains.list("down-app").find((d) => d.id === down.id)!;
    expect(status.connected).toBe(false);
    expect(status.missed).toBe(19_000);
    expect(status.last_error).toContain("ECONNREFUSED");
    // It comes up: the drain reconnects (back-off) and sends what its queue kept.
    const revived = await syslogReceiver({ port: downPort });
    await until("the revived drain to get its queue", () => revived.messages.length >= 1000);
    expect(revived.messages[0]).toEndWith(" - - line 0");
    expect(drains.list("down-app").find((d) => d.id === down.id)).toMatchObject({ connected: true, missed: 19_000 });
    expect(performance.now() - began).toBeLessThan(15_000);
    await drains.stop();
    await good.close();
    await revived.close();
  });

  test("a slow drain (connected, not reading) fills its bounded queue and counts missed lines", async () => {
    const slow = await syslogReceiver();
    slow.pause();
    const { drains, store, say } = setup("slow-app", { queueSize: 500 });
    drains.add("slow-app", `syslog://127.0.0.1:${slow.port}`);
    await until("connected", () => drains.list("slow-app")[0]!.connected);
    const big = "z".repeat(2000);
    for (let batch = 0; batch < 40; batch++) {
      for (let i = 0; i < 500; i++) say(`${batch}-${i} ${big}`);
      await Bun.sleep(2);
    }
    expect(store.tail("slow-app", 5)).toHaveLength(5);
    const status = drains.list("slow-app")[0]!;
    expect(status.missed).toBeGreaterThan(0);
    expect(status.missed + status.sent + 500).toBeGreaterThanOrEqual(20_000);
    await drains.stop();
    await slow.close();
  });

  test("adding validates; removing stops the drain", async () => {
    const receiver = await syslogReceiver();
    const { drains, say } = setup("rm-app");
    expect(() => drains.add("rm-app", "http://example.com/")).toThrow(/not http:\/\//);
    const d = drains.add("rm-app", `syslog://127.0.0.1:${receiver.port}`);
    say("first");
    await until("first", () => receiver.messages.length === 1);
    expect(await drains.remove("rm-app", d.id)).toBe(true);
    expect(await drains.remove("rm-app", d.id)).toBe(false);
    say("second");
    await Bun.sleep(200);
    expect(receiver.messages).toHaveLength(1);
    expect(drains.list("rm-app")).toEqual([]);
    await drains.stop();
    await receiver.close();
  });

  test("drains stored earlier start again (a daemon restart)", async () => {
    const receiver = await syslogReceiver();
    const records = memoryRecords();
    records.add("again", new Secret(`syslog://127.0.0.1:${receiver.port}`));
    const store = new LogStore({ dir: join(dir, "again") });
    const drains = new LogDrains({ records, store, logger: createMemoryLogger() });
    drains.start();
    store.append("again", { source: "platform", replica: "beamstalk", line: "restarted" });
    await until("the line", () => receiver.messages.length === 1);
    expect(receiver.messages[0]).toEndWith("again platform beamstalk - - restarted");
    await drains.stop();
    await receiver.close();
  });
});
