import { afterAll, expect, test } from "bun:test";
import { FailureBuckets } from "../../src/lib/rate-limit.ts";
import { fuzz, type Rng } from "../support/fuzz.ts";
import { testApi } from "../support/api.ts";

/** No rate limit in the way: the fuzz wants to reach every handler. */
const open = () => new FailureBuckets({ burst: 1e12, refillMs: 1 });
const t = testApi({ throttle: { passwordsByAddress: open(), passwordsByAccount: open(), apiKeysByAddress: open() } });
afterAll(() => t.close());

const KEYS = ["email", "password", "new_password", "current_password", "name", "app", "value", "values", "config", "processes", "url", "hostname", "domain", "version", "command", "argv", "size", "timeout", "key", "public_key", "title", "invite", "setup_token", "role", "user", "quantity", "type", "node", "stack", "on", "release", "message", "id", "backup", "lines", "follow", "changes", "web", "sha", "code", "required"];
const STRINGS = ["", "shop", "web", "web.1", "a@example.com", "../../etc/passwd", "--upload-pack=touch /tmp/x", "x\u0000y", "%00", "é\ud800", "<script>", "1e309", "-1", "9".repeat(40), "x".repeat(70_000), "http://127.0.0.1:1/", "ssh-ed25519 AAAA", "true"];
const PARAMS = ["shop", "1", "0", "-1", "99999999999999999999", "..", "%2e%2e%2f", "%00", "web.1", "x".repeat(300), "example.com", "Shop", "nope"];
const MALFORMED = ["{", "[", "null", "1", '"s"', '{"a":', "{}", "[]", '{"__proto__":{"admin":true}}', "\xff\xfe", '{"email":{"$gt":""}}', "true"];

function value(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 1 ? 6 : 8)) {
    case 0:
      return rng.pick(STRINGS);
    case 1:
      return rng.pick([0, -1, 1.5, 2 ** 53, -(2 ** 63), 1e308, 65536]);
    case 2:
      return rng.chance(0.5);
    case 3:
      return null;
    case 4:
      return rng.bytes(rng.int(40)).toString("latin1");
    case 5:
      return rng.int(100);
    case 6:
      return Array.from({ length: rng.int(4) }, () => value(rng, depth + 1));
    default:
      return Object.fromEntries(Array.from({ length: rng.int(4) }, () => [rng.pick(KEYS), value(rng, depth + 1)]));
  }
}

function body(rng: Rng): { raw?: string; type?: string } {
  const kind = rng.int(10);
  if (kind === 0) return {};
  if (kind <= 2) return { raw: rng.pick(MALFORMED) };
  if (kind === 3) return { raw: JSON.stringify(value(rng)), type: rng.pick(["text/plain", "application/x-www-form-urlencoded", "application/json"]) };
  return { raw: JSON.stringify(Object.fromEntries(Array.from({ length: 1 + rng.int(5) }, () => [rng.pick(KEYS), value(rng)]))) };
}

const STACK = /\n\s+at |\bat [^\s]+ \(|\.ts:\d+|node_modules/;

test("every API route, fed malformed JSON, wrong types, odd parameters and huge bodies: never a 500 or a stack trace", async () => {
  const admin = await t.admin();
  const adminId = t.state.users.byEmail("admin@example.com")!.id;
  let key = admin;
  const routes = t.api.routes.filter((r) => r.method !== "ALL").map((r) => ({ method: r.method, path: r.path }));
  const unique = [...new Map(routes.map((r) => [`${r.method} ${r.path}`, r])).values()];
  expect(unique.length).toBeGreaterThan(40);
  const statuses = new Map<number, number>();
  const failures: string[] = [];

  async function send(method: string, path: string, init: { raw?: string; type?: string; key?: string | null; transport?: "tcp" | "unix" }) {
    const headers: Record<string, string> = {};
    if (init.key) headers.authorization = `Bearer ${init.key}`;
    if (init.raw !== undefined) headers["content-type"] = init.type ?? "application/json";
    const mark = t.logger.lines.length;
    const abort = new AbortController();
    const res = await Promise.race([
      t.api.request(path, { method, headers, ...(init.raw !== undefined && method !== "GET" && method !== "HEAD" ? { body: init.raw } : {}), signal: abort.signal }, { transport: init.transport ?? "tcp", clientIp: "198.51.100.9" }),
      Bun.sleep(3_000).then(() => null),
    ]);
    if (res === null) {
      failures.push(`${method} ${path}: no answer in 3 s`);
      return;
    }
    // Streams (logs --follow) are read for a moment, then let go.
    const text = await Promise.race([res.text(), Bun.sleep(300).then(() => "")]);
    abort.abort();
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    const stub = t.logger.lines.slice(mark).some((line) => line.includes("no engine in API tests"));
    if (res.status >= 500 && res.status !== 503 && !stub) failures.push(`${method} ${path} ${init.raw?.slice(0, 200) ?? ""} → ${res.status} ${text.slice(0, 300)}`);
    if (STACK.test(text)) failures.push(`${method} ${path} → a stack trace: ${text.slice(0, 300)}`);
  }

  // The same app, the same admin key, before each request: some routes destroy them. A fuzzed
  // PUT /api/server/mfa over the socket may require MFA, which would shut the admin's key out.
  function restore() {
    if (t.state.apiKeys.lookup(key).status !== "valid") key = t.state.apiKeys.issue(adminId).key;
    t.state.mfa.setRequired(false);
    if (!t.state.apps.exists("shop")) return t.call("POST", "/api/apps", { key, body: { name: "shop" } });
  }

  const filled = (rng: Rng, path: string) =>
    path.replace(/:(\w+)(\{[^}]*\})?/g, (_m, name: string) => (name === "app" && rng.chance(0.7) ? "shop" : encodeURIComponent(rng.pick(PARAMS)).replace(/%25/g, "%"))) +
    (rng.chance(0.3) ? `?${rng.pick(["num", "follow", "lines", "version", "process", "n"])}=${encodeURIComponent(String(value(rng)).toWellFormed())}` : "");

  // Each route once with a body over the 4 MiB limit.
  const huge = "x".repeat(5 * 1024 * 1024);
  for (const route of unique) {
    await restore();
    if (route.method === "GET" || route.method === "HEAD") continue;
    await send(route.method, route.path.replace(/:app\b/, "shop").replace(/:\w+/g, "1"), { raw: `{"a":"${huge}"}`, key });
  }

  let sent = 0;
  await fuzz("api routes", async (rng) => {
    await restore();
    const route = rng.pick(unique);
    const auth = rng.int(10);
    await send(route.method, filled(rng, route.path), { ...body(rng), key: auth === 0 ? null : auth === 1 ? "bsk_garbage" : key, transport: rng.chance(0.1) ? "unix" : "tcp" });
    sent++;
  }, { ms: Math.max(3_000, Number(process.env.FUZZ_MS ?? 3_000)) });
  console.log(`  ${unique.length} routes, ${sent} requests (+${unique.length} huge bodies); statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
  expect(failures.slice(0, 10)).toEqual([]);
  expect(sent).toBeGreaterThan(100);
});
