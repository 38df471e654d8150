import { afterEach, describe, expect, test } from "bun:test";
import { RELEASE_EVAL_SCRIPT } from "../../src/deploy/jobs.ts";
import { JobStreamReader } from "../../src/lib/job-stream.ts";
import { Secret } from "../../src/lib/secret.ts";
import type { JobOptions, JobResult, JobSpec } from "../../src/runner/types.ts";
import { testApi } from "../support/api.ts";

/** POST /api/apps/:app/run over a real state.db, with a scripted runner (the real one has its contract). */
type Script = (spec: JobSpec, options: JobOptions) => Promise<JobResult>;

let t: ReturnType<typeof testApi>;
let script: Script;
const runs: { spec: JobSpec; timeoutMs: number }[] = [];
const enc = new TextEncoder();

function setup() {
  runs.length = 0;
  script = async (_spec, options) => {
    options.onOutput(enc.encode("hello from the job"), "stdout");
    return { exitCode: 0, timedOut: false };
  };
  t = testApi({
    runJob: (spec, options) => {
      runs.push({ spec, timeoutMs: options.timeoutMs });
      return script(spec, options);
    },
  });
  return t;
}

afterEach(() => t?.close());

/** An owner with app "web" deployed as v1 (a release with a slug and config). */
async function deployed() {
  const admin = await t.admin();
  const owner = await t.user(admin, "owner@example.com");
  expect((await t.call("POST", "/api/apps", { key: owner, body: { name: "web" } })).status).toBe(201);
  const app = t.state.apps.byName("web")!;
  t.state.releases.append({
    appId: app.id,
    appName: "web",
    summary: "Deploy abc1234",
    config: { GREETING: "hi there", APP_NAME: "mine" },
    slug: "ab12cd",
    processTypes: { web: "bin/web start" },
    gitSha: "abc1234",
    status: "succeeded",
    createdBy: null,
  });
  return { admin, owner };
}

async function run(key: string, body: unknown, app = "web") {
  const res = await t.api.request(`/api/apps/${app}/run`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
}

/** Output and trailer of a job response, read the way the CLI reads it. */
function parse(text: string) {
  const reader = new JobStreamReader();
  const out = new TextDecoder().decode(reader.push(enc.encode(text)));
  const { end } = reader.end();
  return { out, end };
}

describe("POST /api/apps/:app/run", () => {
  test("streams the job's output and ends with its exit code; the job is the current release with the app's environment", async () => {
    setup();
    const { owner } = await deployed();
    const res = await run(owner, { argv: ["bin/web", "eval", 'IO.puts("a b; $(id)")'] });
    expect(res.status).toBe(200);
    expect(res.type).toBe("text/plain; charset=utf-8");
    expect(res.text).toBe("hello from the jobbeamstalk:exit=0\n");
    expect(parse(res.text)).toEqual({ out: "hello from the job", end: { exitCode: 0, error: null } });
    const [{ spec, timeoutMs }] = runs as [(typeof runs)[0]];
    expect(timeoutMs).toBe(300_000);
    expect(spec).toMatchObject({
      app: "web",
      release: 1,
      image: "beamstalk/run:test",
      argv: ["bin/web", "eval", 'IO.puts("a b; $(id)")'],
      size: 1,
    });
    expect(spec.slugPath).toBe(`${t.dir}/slugs/web/ab12cd.tar.gz`);
    expect(spec.env).toMatchObject({ GREETING: "hi there", APP_NAME: "mine", PORT: "4000", PHX_HOST: "web.apps.test", DNS_CLUSTER_QUERY: "web.internal" });
    expect(spec.env.SECRET_KEY_BASE).toBeInstanceOf(Secret);
    expect(spec.env.RELEASE_COOKIE).toBeInstanceOf(Secret);
  });

  test("GIGALIXIR's {module, function}: Elixir.MODULE.FUNCTION() through bin/<release> eval, the expression its own argument", async () => {
    setup();
    const { owner } = await deployed();
    for (const [module, expected] of [["Tasks", "Elixir.Tasks.migrate()"], ["Elixir.MyApp.Tasks", "Elixir.MyApp.Tasks.migrate()"]] as const) {
      const res = await run(owner, { module, function: "migrate", timeout: 60 });
      expect(parse(res.text).end).toEqual({ exitCode: 0, error: null });
      expect(runs.at(-1)!.spec.argv).toEqual(["/bin/bash", "-c", RELEASE_EVAL_SCRIPT, "beamstalk", expected]);
      expect(runs.at(-1)!.timeoutMs).toBe(60_000);
    }
    expect(RELEASE_EVAL_SCRIPT).not.toContain("Tasks");
    const activity = await t.call("GET", "/api/apps/web/activity", { key: owner });
    expect(activity.body.filter((e: { action: string }) => e.action === "run").map((e: { detail: string }) => e.detail)).toEqual([
      "Ran Elixir.MyApp.Tasks.migrate/0 on v1",
      "Ran Elixir.Tasks.migrate/0 on v1",
    ]);
  });

  test("the exit code, timeout and size are passed on; a timed-out job says so, with exit code 124", async () => {
    setup();
    const { owner } = await deployed();
    script = async () => ({ exitCode: 7, timedOut: false });
    expect(parse((await run(owner, { argv: ["false"], size: 2 })).text).end).toEqual({ exitCode: 7, error: null });
    expect(runs[0]!.spec.size).toBe(2);
    script = async (_spec, options) => {
      options.onOutput(enc.encode("partial"), "stdout");
      return { exitCode: 143, timedOut: true };
    };
    const res = await run(owner, { argv: ["sleep", "30"], timeout: 2 });
    expect(runs[1]!.timeoutMs).toBe(2000);
    expect(parse(res.text)).toEqual({ out: "partial", end: { exitCode: 124, error: expect.stringContaining("killed after 2 s") } });
  });

  test("a job that cannot run ends with exit code 125 and no engine detail", async () => {
    setup();
    const { owner } = await deployed();
    script = async () => {
      throw new Error("docker: socket hang up at /var/run/docker.sock");
    };
    const { end } = parse((await run(owner, { argv: ["true"] })).text);
    expect(end).toEqual({ exitCode: 125, error: "the job could not be run; the server log has details" });
    expect(t.logger.lines.join("\n")).toContain("job.failed");
  });

  test("the client going away aborts the job", async () => {
    setup();
    const { owner } = await deployed();
    let aborted: () => void = () => {};
    const gone = new Promise<void>((resolve) => (aborted = resolve));
    script = (_spec, options) =>
      new Promise((resolve) => {
        options.onOutput(enc.encode("running\n"), "stdout");
        options.signal?.addEventListener("abort", () => {
          aborted();
          resolve({ exitCode: 143, timedOut: false });
        });
      });
    const res = await t.api.request("/api/apps/web/run", {
      method: "POST",
      headers: { authorization: `Bearer ${owner}`, "content-type": "application/json" },
      body: JSON.stringify({ argv: ["sleep", "600"] }),
    });
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("running\n");
    await reader.cancel();
    await gone;
  });

  test("activity records the command's first word, never its arguments; the log neither", async () => {
    setup();
    const { owner } = await deployed();
    await run(owner, { argv: ["bin/web", "eval", "Secret.set(\"sk_live_123\")"] });
    await run(owner, { argv: ["psql sk_live_456", "x"] });
    const activity = await t.call("GET", "/api/apps/web/activity", { key: owner });
    const runsSeen = activity.body.filter((e: { action: string }) => e.action === "run").map((e: { detail: string; user: string }) => [e.detail, e.user]);
    expect(runsSeen).toEqual([
      ["Ran psql on v1", "owner@example.com"],
      ["Ran bin/web on v1", "owner@example.com"],
    ]);
    expect(JSON.stringify(activity.body)).not.toContain("sk_live");
    expect(t.logger.lines.join("\n")).not.toContain("sk_live");
  });

  test("collaborators, owners and admins may run; viewers get 403; strangers 404", async () => {
    setup();
    const { admin, owner } = await deployed();
    const viewer = await t.user(admin, "viewer@example.com");
    const collab = await t.user(admin, "collab@example.com");
    const stranger = await t.user(admin, "stranger@example.com");
    await t.call("POST", "/api/apps/web/access", { key: owner, body: { email: "viewer@example.com", role: "viewer" } });
    await t.call("POST", "/api/apps/web/access", { key: owner, body: { email: "collab@example.com" } });
    for (const key of [owner, collab, admin]) expect((await run(key, { argv: ["true"] })).status).toBe(200);
    const refused = await run(viewer, { argv: ["true"] });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.text).error.message).toBe("your viewer access to web does not allow this");
    const hidden = await run(stranger, { argv: ["true"] });
    expect(hidden.status).toBe(404);
    expect(JSON.parse(hidden.text).error.message).toBe("app web not found");
    expect((await run("bst_nope", { argv: ["true"] })).status).toBe(401);
    expect(runs).toHaveLength(3);
  });

  test("an app with no deployed release answers a clear error, and nothing runs", async () => {
    setup();
    const admin = await t.admin();
    await t.call("POST", "/api/apps", { key: admin, body: { name: "empty" } });
    const res = await run(admin, { argv: ["true"] }, "empty");
    expect(res.status).toBe(409);
    expect(JSON.parse(res.text).error).toEqual({ code: "conflict", message: "empty has no deployed release to run a command in", hint: "deploy it first: git push beamstalk main" });
    expect(runs).toEqual([]);
  });

  test.each([
    [{}, /no command given/],
    [{ argv: [] }, /no command given/],
    [{ argv: "ls -la" }, /no command given/],
    [{ argv: ["ls", 1] }, /must be a string/],
    [{ argv: ["ls"], timeout: 0 }, /timeout must be whole seconds from 1 to 86400/],
    [{ argv: ["ls"], timeout: 86_401 }, /timeout must be whole seconds/],
    [{ argv: ["ls"], timeout: 1.5 }, /timeout must be whole seconds/],
    [{ argv: ["ls"], timeout: "60" }, /timeout must be whole seconds/],
    [{ argv: ["ls"], size: 0 }, /size must be a number above 0/],
    [{ argv: ["ls"], size: 65 }, /size must be a number above 0/],
    [{ module: "Tasks" }, /not an Elixir function name/],
    [{ function: "migrate" }, /not an Elixir module name/],
    [{ module: "tasks", function: "migrate" }, /not an Elixir module name/],
    [{ module: "Tasks", function: "migrate()" }, /not an Elixir function name/],
    [{ module: "Tasks;System", function: "halt" }, /not an Elixir module name/],
    [{ module: ["Tasks"], function: "migrate" }, /not an Elixir module name/],
    [{ module: "Tasks", function: "migrate", argv: ["ls"] }, /give argv, or module and function, not both/],
  ])("refuses %j with 400", async (body, message) => {
    setup();
    const { owner } = await deployed();
    const res = await run(owner, body);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).error.message).toMatch(message);
    expect(runs).toEqual([]);
  });
});
