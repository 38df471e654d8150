import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testApi } from "../support/api.ts";
import { syslogReceiver } from "./receivers.ts";

/** The CLI (from source) against the API served on 127.0.0.1. */
const MAIN = join(import.meta.dir, "../../src/main.ts");
let t: ReturnType<typeof testApi>;
let server: ReturnType<typeof Bun.serve>;
let key = "";
const home = mkdtempSync(join(tmpdir(), "beamstalk-cli-home-"));

beforeAll(async () => {
  t = testApi();
  key = await t.admin();
  await t.call("POST", "/api/apps", { key, body: { name: "web" } });
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, idleTimeout: 0, fetch: (req) => t.api.fetch(req, { transport: "tcp" }) });
});
afterAll(() => {
  server.stop(true);
  t.close();
  rmSync(home, { recursive: true, force: true });
});

function cli(...args: string[]) {
  return Bun.spawn([process.execPath, MAIN, ...args], {
    env: { PATH: process.env.PATH, HOME: home, BEAMSTALK_URL: `http://127.0.0.1:${server.port}`, BEAMSTALK_API_KEY: key, NO_COLOR: "1" },
    stdout: "pipe",
    stderr: "pipe",
  });
}

async function run(...args: string[]) {
  const p = cli(...args);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { stdout, stderr, code };
}

test("logs --no-tail prints the last lines as `time replica[source]: text`", async () => {
  for (let i = 1; i <= 3; i++) t.logs.store.append("web", { source: "app", replica: "web.1", line: `hello ${i}`, time: `2026-11-26T17:00:0${i}.123Z` });
  const out = await run("logs", "-a", "web", "--num", "2", "--no-tail");
  expect(out.code).toBe(0);
  expect(out.stdout).toBe("2026-11-26T17:00:02.123Z web.1[app]: hello 2\n2026-11-26T17:00:03.123Z web.1[app]: hello 3\n");
  expect((await run("logs", "-a", "web", "--num", "x", "--no-tail")).code).toBe(2);
});

test("logs follows until interrupted", async () => {
  const p = cli("logs", "-a", "web", "--num", "0");
  const reader = p.stdout.getReader();
  await Bun.sleep(800);
  t.logs.store.append("web", { source: "router", replica: "router", line: "GET / 200", time: "2026-11-26T17:00:09.000Z" });
  const { value } = await reader.read();
  expect(new TextDecoder().decode(value)).toBe("2026-11-26T17:00:09.000Z router[router]: GET / 200\n");
  p.kill("SIGINT");
  await p.exited;
}, 15_000);

test("drains, drains:add, drains:remove", async () => {
  const receiver = await syslogReceiver();
  const added = await run("drains:add", `syslog://127.0.0.1:${receiver.port}`, "-a", "web");
  expect(added).toMatchObject({ code: 0, stdout: "" });
  expect(added.stderr).toContain("Added drain 1");
  const bad = await run("drains:add", "http://u:pw@x/", "-a", "web");
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain("not http://");
  const list = await run("drains", "-a", "web");
  expect(list.stdout).toMatch(/^ID\s+URL\s+SENT\s+MISSED\s+STATE\n1\s+syslog:\/\/127\.0\.0\.1:\d+\s+0\s+0\s+connected\n$/);
  expect((await run("drains:remove", "1", "-a", "web")).code).toBe(0);
  expect((await run("drains:remove", "1", "-a", "web")).code).toBe(4);
  expect(JSON.parse((await run("drains", "-a", "web", "--json")).stdout)).toEqual([]);
  await receiver.close();
});

test("releases:info -r N --build-log", async () => {
  await t.call("PATCH", "/api/apps/web/config", { key, body: { set: { A: "1" } } });
  const build = t.logs.startBuild("web");
  build.line("-----> Building web");
  build.release(1);
  build.close();
  const out = await run("releases:info", "-r", "1", "--build-log", "-a", "web");
  expect(out.code).toBe(0);
  expect(out.stdout).toContain("version:");
  expect(out.stdout).toContain("v1");
  expect(out.stdout).toEndWith("\n-----> Building web\n");
  const json = JSON.parse((await run("releases:info", "-r", "v1", "-a", "web", "--json")).stdout);
  expect(json).toMatchObject({ version: 1, summary: "Set A config var" });
  expect((await run("releases:info", "-r", "9", "-a", "web")).code).toBe(4);
});
