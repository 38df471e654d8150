import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { syslogReceiver, until } from "../logs/receivers.ts";
import { testApi } from "../support/api.ts";

let t: ReturnType<typeof testApi>;
afterEach(() => t?.close());

async function withApp() {
  t = testApi();
  const key = await t.admin();
  await t.call("POST", "/api/apps", { key, body: { name: "web" } });
  const viewer = await t.user(key, "viewer@example.com");
  await t.call("POST", "/api/apps/web/access", { key, body: { email: "viewer@example.com", role: "viewer" } });
  const stranger = await t.user(key, "stranger@example.com");
  return { key, viewer, stranger };
}

const say = (line: string, replica = "web.1") => t.logs.store.append("web", { source: "app", replica, line });

describe("logs", () => {
  test("num lines with tail=false: newline-delimited JSON entries, then the response ends", async () => {
    const { viewer } = await withApp();
    for (let i = 1; i <= 5; i++) say(`line ${i}`);
    const res = await t.api.request("/api/apps/web/logs?num=3&tail=false", { headers: { authorization: `Bearer ${viewer}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("application/x-ndjson");
    const entries = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
    expect(entries.map((e) => e.line)).toEqual(["line 3", "line 4", "line 5"]);
    expect(entries[0]).toEqual({ time: expect.stringMatching(/^\d{4}-.*Z$/), source: "app", replica: "web.1", line: "line 3" });
  });

  test("tail=true (the default) streams new lines until the client goes away", async () => {
    const { key } = await withApp();
    say("before");
    const abort = new AbortController();
    const res = await t.api.request("/api/apps/web/logs?num=1", { headers: { authorization: `Bearer ${key}` }, signal: abort.signal });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    const readLines = async (n: number) => {
      while (text.split("\n").length - 1 < n) text += decoder.decode((await reader.read()).value);
      return text.trim().split("\n").map((l) => JSON.parse(l).line);
    };
    expect(await readLines(1)).toEqual(["before"]);
    say("after 1");
    t.logs.store.append("web", { source: "router", replica: "router", line: "GET / 200" });
    expect(await readLines(3)).toEqual(["before", "after 1", "GET / 200"]);
    await reader.cancel();
    abort.abort();
  });

  test("bad num or tail, no access, unknown app", async () => {
    const { key, stranger } = await withApp();
    expect((await t.call("GET", "/api/apps/web/logs?num=-1&tail=false", { key })).status).toBe(400);
    expect((await t.call("GET", "/api/apps/web/logs?num=10001&tail=false", { key })).body.error.message).toContain("0 to 10000");
    expect((await t.call("GET", "/api/apps/web/logs?tail=maybe", { key })).status).toBe(400);
    expect((await t.call("GET", "/api/apps/web/logs?tail=false", { key: stranger })).status).toBe(404);
    expect((await t.call("GET", "/api/apps/nope/logs?tail=false", { key })).status).toBe(404);
    expect((await t.call("GET", "/api/apps/web/logs?tail=false")).status).toBe(401);
  });
});

describe("drains", () => {
  test("add, list (redacted, with missed), remove; the URL is encrypted at rest and never logged", async () => {
    const { key, viewer } = await withApp();
    const receiver = await syslogReceiver();
    const url = `https://loguser:hunter2secret@127.0.0.1:1/ingest?token=tok3nvalue`;
    const added = await t.call("POST", "/api/apps/web/drains", { key, body: { url } });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ id: 1, url: "https://[REDACTED]@127.0.0.1:1/ingest?[REDACTED]", missed: 0, sent: 0 });
    const sys = await t.call("POST", "/api/apps/web/drains", { key, body: { url: `syslog://127.0.0.1:${receiver.port}` } });
    expect(sys.status).toBe(201);
    say("to the drains");
    await until("the syslog drain", () => receiver.messages.length === 1);
    expect(receiver.messages[0]).toEndWith("web app web.1 - - to the drains");

    const list = await t.call("GET", "/api/apps/web/drains", { key: viewer });
    expect(list.status).toBe(200);
    expect(list.body.map((d: { id: number; url: string }) => [d.id, d.url])).toEqual([
      [1, "https://[REDACTED]@127.0.0.1:1/ingest?[REDACTED]"],
      [2, `syslog://127.0.0.1:${receiver.port}`],
    ]);
    expect(list.body[1]).toMatchObject({ connected: true, sent: 1, missed: 0, last_error: null });

    // encrypted at rest, absent from the server log and from the database file
    const row = t.state.db.query("SELECT url FROM drains WHERE id = 1").get() as { url: Uint8Array };
    expect(Buffer.from(row.url).toString("latin1")).not.toContain("hunter2secret");
    t.state.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    expect(readFileSync(join(t.dir, "state.db")).toString("latin1")).not.toContain("hunter2secret");
    const serverLog = t.logger.lines.join("\n");
    expect(serverLog).toContain("drain.add");
    expect(serverLog).not.toContain("hunter2secret");
    expect(serverLog).not.toContain("tok3nvalue");

    expect((await t.call("POST", "/api/apps/web/drains", { key: viewer, body: { url } })).status).toBe(403);
    expect((await t.call("DELETE", "/api/apps/web/drains/2", { key: viewer })).status).toBe(403);
    expect((await t.call("DELETE", "/api/apps/web/drains/2", { key })).status).toBe(204);
    expect((await t.call("DELETE", "/api/apps/web/drains/2", { key })).status).toBe(404);
    expect((await t.call("DELETE", "/api/apps/web/drains/abc", { key })).status).toBe(404);
    expect((await t.call("GET", "/api/apps/web/drains", { key })).body.map((d: { id: number }) => d.id)).toEqual([1]);
    await receiver.close();
  });

  test("bad URLs are refused with a clear error that does not echo them", async () => {
    const { key, stranger } = await withApp();
    const cases: [unknown, RegExp][] = [
      ["http://user:pw12345@example.com/", /must be syslog:\/\/, syslog\+tls:\/\/ or https:\/\/, not http:\/\//],
      ["syslog://example.com", /need a port/],
      ["syslog://example.com:99999", /not a URL/],
      ["gopher://example.com:70", /not gopher:\/\//],
      [undefined, /needs a URL/],
    ];
    for (const [url, message] of cases) {
      const res = await t.call("POST", "/api/apps/web/drains", { key, body: { url } });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(message);
      expect(res.text).not.toContain("pw12345");
    }
    expect((await t.call("GET", "/api/apps/web/drains", { key })).body).toEqual([]);
    expect((await t.call("POST", "/api/apps/web/drains", { key: stranger, body: { url: "syslog://h:1" } })).status).toBe(404);
  });
});

describe("releases/:version", () => {
  test("a release, and with build_log=true its saved build output", async () => {
    const { key, viewer } = await withApp();
    await t.call("PATCH", "/api/apps/web/config", { key, body: { set: { A: "1" } } });
    const build = t.logs.startBuild("web");
    build.line("-----> Building web");
    build.release(1);
    build.close();
    const plain = await t.call("GET", "/api/apps/web/releases/1", { key: viewer });
    expect(plain.status).toBe(200);
    expect(plain.body).toMatchObject({ version: 1, summary: "Set A config var", status: "recorded", buildpacks: [] });
    expect(plain.body.build_log).toBeUndefined();
    const withLog = await t.call("GET", "/api/apps/web/releases/v1?build_log=true", { key: viewer });
    expect(withLog.body.build_log).toBe("-----> Building web\n");
    expect((await t.call("GET", "/api/apps/web/releases/2", { key })).status).toBe(404);
    expect((await t.call("GET", "/api/apps/web/releases/x", { key })).status).toBe(404);
    // the rollback route still answers POST
    expect((await t.call("POST", "/api/apps/web/releases/rollback", { key, body: {} })).status).not.toBe(404);
  });

  test("a release without a saved build log answers build_log: null", async () => {
    const { key } = await withApp();
    await t.call("PATCH", "/api/apps/web/config", { key, body: { set: { A: "1" } } });
    expect((await t.call("GET", "/api/apps/web/releases/1?build_log=true", { key })).body.build_log).toBeNull();
  });
});
