import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliUser, type RunningDaemon, startDaemon } from "../support/daemon.ts";
import { containersLabelled, createFixtureApp, type FixtureApp, tearDown } from "../support/fixture-app.ts";
import { underLoad } from "../support/load.ts";
import { dockerOn } from "../support/target.ts";

/**
 * Hot upgrades, for real, as Castle's end-to-end test checks them: the fixture
 * (a plain mix release with :sasl) is pushed as 0.1.0 on two replicas, then
 * `git push -o hot` with 0.2.0 upgrades the running nodes: same OS pid, the
 * counter's state kept through code_change/3, new code served, no old code
 * left, 0.2.0 permanent, no failed request meanwhile.
 */
const APP = `hot-${Math.random().toString(36).slice(2, 8)}`;
const LONG = 6 * 60_000;
let daemon: RunningDaemon;
let owner: CliUser;
let fixture: FixtureApp;

interface PsJson {
  release: number;
  replicas: { name: string; release: number; state: string; restarts: number; node: string | null }[];
}

const ps = async () => JSON.parse(await owner.ok(["ps", "-a", APP, "--json"])) as PsJson;
const releases = async () => JSON.parse(await owner.ok(["releases", "-a", APP, "--json"])) as { version: number; summary: string; status: string }[];

async function get(path: string) {
  const res = await fetch(daemon.url + path, { headers: { host: `${APP}.apps.test` } });
  return { status: res.status, body: await res.text() };
}

/** Asks one replica directly at its IP (the host reaches the app's network, as the router does). */
async function ask(node: string, path: string): Promise<string> {
  const res = await fetch(`http://${node.slice(node.indexOf("@") + 1)}:4000${path}`, { signal: AbortSignal.timeout(5000) });
  return res.text();
}

async function runningNodes(): Promise<string[]> {
  const { replicas } = await ps();
  return replicas.filter((r) => r.state === "running").map((r) => r.node!).sort();
}

function edit(path: string, from: RegExp, to: string) {
  const file = join(fixture.repo, path);
  const text = readFileSync(file, "utf8");
  if (!from.test(text)) throw new Error(`${path} has no ${from}`);
  writeFileSync(file, text.replace(from, to));
}

/** Sets mix.exs's version and the GET / marker (and, optionally, Hello.Counter's generation), and commits. */
async function commitVersion(version: string, marker: string, generation?: number) {
  edit("mix.exs", /version: "[^"]+"/, `version: "${version}"`);
  edit("lib/hello/version.ex", /"hello v[^"]*"/, `"${marker}"`);
  if (generation !== undefined) edit("lib/hello/counter.ex", /@generation \d+/, `@generation ${generation}`);
  await fixture.git(["commit", "-qam", `${version} ${marker}`]);
}

/** Waits until every running replica answers `path` with `body` (after a node restart, say). */
async function allAnswer(path: string, body: string, ms = 60_000) {
  const deadline = Date.now() + ms;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const nodes = await runningNodes();
      const answers = await Promise.all(nodes.map((n) => ask(n, path)));
      last = JSON.stringify(answers);
      if (nodes.length > 0 && answers.every((a) => a === body)) return;
    } catch (err) {
      last = String(err);
    }
    await Bun.sleep(300);
  }
  throw new Error(`not every replica answered ${path} with ${JSON.stringify(body)}; last: ${last}`);
}

beforeAll(async () => {
  daemon = await startDaemon();
  owner = new CliUser(daemon.url);
  await owner.ok(["signup", "--email", "hot@example.com", "--socket", daemon.socket], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
  fixture = await createFixtureApp(owner, APP);
  await fixture.push();
  await owner.ok(["ps:scale", "-a", APP, "--replicas", "2"]);
}, LONG);

afterAll(() => tearDown(owner, daemon, APP), LONG);

describe("hot upgrades", () => {
  let upgradedRelease = 0;

  test("git push -o hot upgrades every running node in place: same OS pid, state kept, new code, no old code, permanent", async () => {
    const nodes = await runningNodes();
    expect(nodes).toHaveLength(2);
    const before = await Promise.all(
      nodes.map(async (n) => {
        await ask(n, "/count");
        return { node: n, pid: await ask(n, "/pid"), count: Number(await ask(n, "/count")) };
      }),
    );
    for (const n of nodes) {
      expect(await ask(n, "/releases")).toBe("0.1.0 permanent\n");
      expect(await ask(n, "/counter")).toBe("1 0");
    }
    const startedAt = () => containersLabelled(`beamstalk.app=${APP}`).map((id) => dockerOn(id, "inspect", "-f", "{{.State.StartedAt}}", id).stdout);
    const started = startedAt();
    const previous = (await ps()).release;
    await commitVersion("0.2.0", "hello v2", 2);

    const load = await underLoad(() => get("/"), () => fixture.git(["push", "-o", "hot", "beamstalk", "main"]), {
      good: (a) => a.status === 200 && /^hello v[12]\n$/.test(a.body),
    });
    const push = load.result;
    expect(push.code).toBe(0);
    expect(push.err).toContain(`as a hot upgrade of v${previous}`);
    expect(push.err).toContain("hello 0.1.0 -> 0.2.0: 1 load_module, 1 update, 0 add_module, 0 delete_module");
    expect(push.err).toMatch(/is live on 2 replicas, upgraded in place in [\d.]+ s/);
    const timing = [/Slug [0-9a-f]+: .*built in [\d.]+ s/, /upgraded in place in [\d.]+ s/, /whole deploy [\d.]+ s/].map((re) => push.err.match(re)?.[0]);
    console.log(`hot upgrade of 2 replicas: ${timing.join("; ")}`);
    expect(load.failures).toEqual([]);
    expect(load.ok).toBeGreaterThan(0);

    // The same containers, never restarted, and the same nodes, upgraded.
    expect(startedAt()).toEqual(started);
    expect(await runningNodes()).toEqual(nodes);
    for (const b of before) {
      expect(await ask(b.node, "/pid")).toBe(b.pid);
      expect(Number(await ask(b.node, "/count"))).toBe(b.count + 1);
      expect(await ask(b.node, "/counter")).toBe("2 1"); // generation 2's code, one code_change/3
      expect(await ask(b.node, "/")).toBe("hello v2\n");
      expect(await ask(b.node, "/old_code")).toBe("");
      expect(await ask(b.node, "/releases")).toBe("0.1.0 old\n0.2.0 permanent\n");
    }
    expect((await get("/")).body).toBe("hello v2\n");

    const { release, replicas } = await ps();
    expect(release).toBe(previous + 1);
    expect(replicas.map((r) => r.release)).toEqual([release, release]);
    const [latest] = await releases();
    expect(latest).toMatchObject({ version: release, status: "succeeded" });
    expect(latest!.summary).toMatch(/^Hot upgrade [0-9a-f]{7} \(0\.1\.0 to 0\.2\.0\)$/);
    upgradedRelease = release;
  }, LONG);

  test("a hot push without a version change is rejected (BEAMSTALK-HOT header) and changes nothing", async () => {
    const nodes = await runningNodes();
    const pids = await Promise.all(nodes.map((n) => ask(n, "/pid")));
    await commitVersion("0.2.0", "hello v2 again");
    const push = await fixture.git(["-c", "http.extraheader=BEAMSTALK-HOT: true", "push", "beamstalk", "main"]);
    expect(push.code).not.toBe(0);
    expect(push.err).toContain("the version is still 0.2.0: a hot upgrade needs a new version in mix.exs");
    expect(push.err).toContain("push rejected; the running release was not changed");
    expect((await ps()).release).toBe(upgradedRelease);
    expect(await Promise.all(nodes.map((n) => ask(n, "/pid")))).toEqual(pids);
    expect(await Promise.all(nodes.map((n) => ask(n, "/")))).toEqual(["hello v2\n", "hello v2\n"]);
  }, LONG);

  test("a hot push whose relup cannot be made is rejected with the reason and changes nothing", async () => {
    mkdirSync(join(fixture.repo, "priv"), { recursive: true });
    // The app's own appup wins over the generated one: this one names a module that does not exist.
    writeFileSync(join(fixture.repo, "priv/hello.appup"), `{"0.3.0", [{"0.2.0", [{load_module, 'Elixir.Hello.Nowhere'}]}], [{"0.2.0", []}]}.\n`);
    await fixture.git(["add", "priv/hello.appup"]);
    await commitVersion("0.3.0", "hello v3");
    const push = await fixture.git(["push", "-o", "hot", "beamstalk", "main"]);
    expect(push.code).not.toBe(0);
    expect(push.err).toContain("using its own priv/hello.appup");
    expect(push.err).toMatch(/no hot upgrade from 0\.2\.0 to 0\.3\.0: systools:make_relup failed: .*Nowhere/);
    expect((await ps()).release).toBe(upgradedRelease);
    await allAnswer("/", "hello v2\n", 5000);
  }, LONG);

  test("an install that fails on one node puts every replica back on the old version, and the push says so", async () => {
    // Accepted by make_relup; while release_handler runs it, it raises on web.2 only. So web.1
    // upgrades to 0.3.0 and is made permanent, web.2's node restarts on 0.2.0, and then web.1
    // must be taken down again through the relup's down instructions.
    writeFileSync(
      join(fixture.repo, "lib/hello/fail_on.ex"),
      `defmodule Hello.FailOn do\n  def replica(index), do: if(System.get_env("BEAMSTALK_INDEX") == index, do: raise("beamstalk_test_failure on web.#{index}"), else: :ok)\nend\n`,
    );
    writeFileSync(
      join(fixture.repo, "priv/hello.appup"),
      `{"0.3.0",
        [{"0.2.0", [{load_module, 'Elixir.Hello.Version'}, {add_module, 'Elixir.Hello.FailOn'}, {apply, {'Elixir.Hello.FailOn', replica, [<<"2">>]}}]}],
        [{"0.2.0", [{load_module, 'Elixir.Hello.Version'}, {delete_module, 'Elixir.Hello.FailOn'}]}]}.\n`,
    );
    await fixture.git(["add", "-A"]);
    await fixture.git(["commit", "-qm", "an appup that fails on web.2"]);
    const push = await fixture.git(["push", "-o", "hot", "beamstalk", "main"]);
    expect(push.code).not.toBe(0);
    expect(push.err).toContain("web.2: the upgrade failed");
    expect(push.err).toContain("beamstalk_test_failure on web.2");
    expect(push.err).not.toContain("web.1: the upgrade failed");
    expect(push.err).toContain("the hot upgrade to 0.3.0 failed on 1 of 2 replicas; every replica is back on 0.2.0");
    expect((await ps()).release).toBe(upgradedRelease);
    const [failed] = await releases();
    expect(failed).toMatchObject({ version: upgradedRelease + 1, status: "failed" });
    await allAnswer("/", "hello v2\n");
    await allAnswer("/releases", "0.1.0 old\n0.2.0 permanent\n");
    await allAnswer("/old_code", "");
    // The failed release's build log is kept, relup lines and each replica's error included.
    const log = await owner.ok(["releases:info", "-a", APP, "-r", String(upgradedRelease + 1), "--build-log"]);
    expect(log).toContain("using its own priv/hello.appup");
    expect(log).toContain("web.2: the upgrade failed");
  }, LONG);

  test("a replica that restarts later boots the new version; so does a rolling restart", async () => {
    const victim = containersLabelled(`beamstalk.app=${APP}`, "beamstalk.index=2")[0]!;
    dockerOn(victim, "kill", victim);
    const deadline = Date.now() + 90_000;
    let replica = (await ps()).replicas.find((r) => r.name === "web.2");
    while (Date.now() < deadline && !(replica?.state === "running" && replica.restarts >= 1)) {
      await Bun.sleep(300);
      replica = (await ps()).replicas.find((r) => r.name === "web.2");
    }
    expect(replica).toMatchObject({ state: "running", release: upgradedRelease });
    await allAnswer("/", "hello v2\n");
    expect(await ask(replica!.node!, "/counter")).toBe("2 0"); // a fresh node, generation 2's code

    await owner.ok(["ps:restart", "-a", APP]);
    await allAnswer("/", "hello v2\n", 10_000);
    await allAnswer("/releases", "0.2.0 permanent\n", 10_000);
  }, LONG);

  test("a hot push with nothing running is refused before it builds", async () => {
    await owner.ok(["ps:scale", "-a", APP, "--replicas", "0"]);
    await commitVersion("0.4.0", "hello v4");
    const push = await fixture.git(["push", "-o", "hot", "beamstalk", "main"]);
    expect(push.code).not.toBe(0);
    expect(push.err).toContain("no running replica to upgrade");
    expect(push.err).not.toContain("Compiling");
  }, LONG);
});
