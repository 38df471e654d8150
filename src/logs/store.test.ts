import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatEntry } from "./format.ts";
import { LogStore, cut } from "./store.ts";
import type { LogEntry } from "./types.ts";

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "beamstalk-logstore-"));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function take(it: AsyncIterator<LogEntry>, n: number): Promise<string[]> {
  const out: string[] = [];
  while (out.length < n) {
    const next = await it.next();
    if (next.done) break;
    out.push(next.value.line);
  }
  return out;
}

describe("LogStore", () => {
  test("append then tail: oldest first, with time, source, replica", () => {
    const store = new LogStore({ dir: tempDir(), now: () => new Date("2026-11-26T17:00:00.123Z") });
    store.append("web-app", { source: "app", replica: "web.1", line: "one" });
    store.append("web-app", { source: "build", replica: "build", line: "two" });
    store.append("web-app", { source: "router", replica: "router", line: "three" });
    expect(store.tail("web-app", 2).map(formatEntry)).toEqual([
      "2026-11-26T17:00:00.123Z build[build]: two",
      "2026-11-26T17:00:00.123Z router[router]: three",
    ]);
    expect(store.tail("web-app", 100)).toHaveLength(3);
    expect(store.tail("other", 10)).toEqual([]);
    expect(store.tail("web-app", 0)).toEqual([]);
  });

  test("lines with newlines, quotes and unicode come back as written", () => {
    const store = new LogStore({ dir: tempDir() });
    const odd = 'a "quoted"\nsecond line\t\u00e9\u{1F600} \\ end';
    store.append("app1", { source: "app", replica: "web.1", line: odd });
    expect(store.tail("app1", 1)[0]!.line).toBe(odd);
  });

  test("the size cap holds: files × maxFileBytes, and tail reads across rotated files", () => {
    const dir = tempDir();
    const store = new LogStore({ dir, rotation: { maxFileBytes: 16 * 1024, files: 3 } });
    for (let i = 0; i < 20_000; i++) store.append("capped", { source: "app", replica: "web.1", line: `line ${i} ${"x".repeat(40)}` });
    const files = readdirSync(join(dir, "capped")).filter((f) => f.startsWith("app.log"));
    expect(files.sort()).toEqual(["app.log", "app.log.1", "app.log.2"]);
    const total = files.reduce((sum, f) => sum + statSync(join(dir, "capped", f)).size, 0);
    expect(total).toBeLessThanOrEqual(3 * 16 * 1024);
    const last = store.tail("capped", 300);
    expect(last).toHaveLength(300);
    expect(last.at(-1)!.line).toStartWith("line 19999 ");
    expect(last[0]!.line).toStartWith("line 19700 ");
    // more than the files hold: everything that is left, in order
    const all = store.tail("capped", 10_000);
    const numbers = all.map((e) => Number(e.line.split(" ")[1]));
    expect(numbers).toEqual(numbers.slice().sort((a, b) => a - b));
    expect(numbers.at(-1)).toBe(19_999);
  });

  test("logs survive a restart: a new store over the same directory reads and appends", () => {
    const dir = tempDir();
    const first = new LogStore({ dir });
    first.append("keep", { source: "app", replica: "web.1", line: "before" });
    first.close();
    const second = new LogStore({ dir });
    second.append("keep", { source: "platform", replica: "beamstalk", line: "after" });
    expect(second.tail("keep", 10).map((e) => e.line)).toEqual(["before", "after"]);
  });

  test("follow: the tail, then new lines, with no gap and no duplicate", async () => {
    const store = new LogStore({ dir: tempDir() });
    for (let i = 0; i < 5; i++) store.append("f1", { source: "app", replica: "web.1", line: `old ${i}` });
    const abort = new AbortController();
    const it = store.follow("f1", { tail: 2, signal: abort.signal });
    // appended after follow() returned but before anything was read: must appear once, after the tail
    store.append("f1", { source: "app", replica: "web.1", line: "new 0" });
    expect(await take(it, 3)).toEqual(["old 3", "old 4", "new 0"]);
    setTimeout(() => store.append("f1", { source: "app", replica: "web.1", line: "new 1" }), 20);
    expect(await take(it, 1)).toEqual(["new 1"]);
    store.append("other", { source: "app", replica: "web.1", line: "not mine" });
    const pending = it.next();
    abort.abort();
    expect((await pending).done).toBe(true);
  });

  test("a reader that falls behind loses lines and is told how many, memory stays bounded", async () => {
    const store = new LogStore({ dir: tempDir(), followBuffer: 10 });
    const abort = new AbortController();
    const it = store.follow("slow", { tail: 0, signal: abort.signal });
    for (let i = 0; i < 25; i++) store.append("slow", { source: "app", replica: "web.1", line: `l${i}` });
    const got = await take(it, 11);
    expect(got.slice(0, 10)).toEqual(Array.from({ length: 10 }, (_, i) => `l${i}`));
    expect(got[10]).toBe("15 lines were not shown: this reader fell behind");
    abort.abort();
    await it.return(undefined);
  });

  test("long lines are cut with a note, on a character boundary", () => {
    expect(cut("short", 100)).toBe("short");
    const long = "é".repeat(100); // 200 bytes
    const out = cut(long, 51);
    expect(out).toStartWith("é".repeat(25) + "…");
    expect(out).toEndWith("[150 bytes cut]");
    const store = new LogStore({ dir: tempDir(), maxLineBytes: 1024 });
    store.append("cut", { source: "app", replica: "web.1", line: "y".repeat(5000) });
    expect(store.tail("cut", 1)[0]!.line).toEndWith("… [3976 bytes cut]");
  });

  test("app names are checked: no path escapes the log directory", () => {
    const store = new LogStore({ dir: tempDir() });
    expect(() => store.append("../evil", { source: "app", line: "x" })).toThrow(/invalid app name/);
  });

  test("build logs: saved as builds/v<N>.log, also in the app log as source build", () => {
    const dir = tempDir();
    const store = new LogStore({ dir });
    const build = store.startBuild("b1");
    build.line("-----> Building b1");
    build.line("compiling\n");
    build.release(7);
    build.line("-----> b1 v7 is live");
    build.close();
    expect(store.buildLog("b1", 7)).toBe("-----> Building b1\ncompiling\n-----> b1 v7 is live\n");
    expect(store.buildLog("b1", 6)).toBeNull();
    expect(store.tail("b1", 10).map(formatEntry).map((l) => l.slice(25))).toEqual([
      "build[build]: -----> Building b1",
      "build[build]: compiling",
      "build[build]: -----> b1 v7 is live",
    ]);
    // a build that made no release leaves no file behind
    const failed = store.startBuild("b1");
    failed.line("! failed");
    failed.close();
    expect(readdirSync(join(dir, "b1", "builds"))).toEqual(["v7.log"]);
  });

  test("removeApp removes the files and ends live readers", async () => {
    const dir = tempDir();
    const store = new LogStore({ dir });
    store.append("gone", { source: "app", line: "x" });
    const it = store.follow("gone", { tail: 0, signal: new AbortController().signal });
    const pending = it.next();
    store.removeApp("gone");
    expect((await pending).done).toBe(true);
    expect(existsSync(join(dir, "gone"))).toBe(false);
  });
});
