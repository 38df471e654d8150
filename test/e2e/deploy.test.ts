import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliUser, type RunningDaemon, startDaemon } from "../support/daemon.ts";
import { createFixtureApp, type FixtureApp, removeAppContainers, sshConfigFor } from "../support/fixture-app.ts";
import { underLoad } from "../support/load.ts";
import { containersLabelled, runningLabelled } from "../support/target.ts";

/**
 * The whole path, for real: the compiled binary as server, `git push` over
 * smart HTTP and SSH, a buildpack build in a container, replicas on Docker,
 * requests through the router.
 */
const APP = `hello-${Math.random().toString(36).slice(2, 8)}`;
let daemon: RunningDaemon;
let owner: CliUser;
let fixture: FixtureApp;
let repo: string;
let sshConfig: string;

/** git as a user runs it, asynchronously (the request loops keep running meanwhile). */
const git = (args: string[], env: Record<string, string> = {}) => fixture.git(args, env);

const LONG = 6 * 60_000;

const sshEnv = () => ({
  GIT_SSH_COMMAND: `ssh -F ${sshConfig}`,
});

async function get(path: string, host = `${APP}.apps.test`) {
  const res = await fetch(daemon.url + path, { headers: { host } });
  return { status: res.status, body: await res.text() };
}

/** Requests GET / through the router while `work` runs; a good answer is a 200 from some version. */
const loaded = <T>(work: () => Promise<T>) => underLoad(() => get("/"), work, { good: (a) => a.status === 200 && a.body.startsWith("hello v") });

function setVersion(marker: string) {
  const file = join(repo, "lib/hello/version.ex");
  writeFileSync(file, readFileSync(file, "utf8").replace(/"hello v[^"]*"/, `"${marker}"`));
}

beforeAll(async () => {
  daemon = await startDaemon();
  owner = new CliUser(daemon.url);
  await owner.ok(["signup", "--email", "owner@example.com", "--socket", daemon.socket], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
  fixture = await createFixtureApp(owner, APP);
  repo = fixture.repo;
  sshConfig = await sshConfigFor(owner);
});

afterAll(async () => {
  if (owner) await owner.run(["apps:destroy", "-a", APP, "--confirm", APP]);
  await daemon?.stop();
  removeAppContainers(APP);
  owner?.cleanup();
}, 6 * 60_000);

describe("git push to a running app", () => {
  test("push over smart HTTP builds with the Elixir buildpack, streams the build, and serves v1", async () => {
    const push = await git(["push", "beamstalk", "main"]);
    expect({ code: push.code, err: push.err }).toMatchObject({ code: 0 });
    expect(push.err).toContain(`remote: -----> Building ${APP} from`);
    expect(push.err).toMatch(/remote: .*mix release|remote: .*Release created/i);
    expect(push.err).toContain(`remote: -----> ${APP} v1 is live at http://${APP}.apps.test`);
    expect(await get("/")).toEqual({ status: 200, body: "hello v1\n" });
    expect((await get("/", "nobody.apps.test")).status).not.toBe(200);
    const releases = JSON.parse(await owner.ok(["releases", "-a", APP, "--json"]));
    expect(releases[0]).toMatchObject({ version: 1, status: "succeeded", process_types: { web: expect.any(String) } });
  }, LONG);

  test("config:set rolls out with zero failed requests and the app sees the value", async () => {
    const { ok, failures } = await loaded(() => owner.ok(["config:set", "-a", APP, "GREETING=hi there"]));
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(10);
    expect(await get("/env/GREETING")).toEqual({ status: 200, body: "hi there" });
    expect(await get("/env/APP_NAME")).toEqual({ status: 200, body: APP });
  }, LONG);

  test("push v2 over SSH during steady traffic: zero failed requests, then v2 serves", async () => {
    setVersion("hello v2");
    await git(["commit", "-qam", "v2"]);
    await git(["remote", "set-url", "beamstalk", `ssh://git@127.0.0.1:${daemon.sshPort}/${APP}.git`]);
    const { result: push, ok, failures } = await loaded(async () => git(["push", "beamstalk", "main"], sshEnv()));
    expect({ code: push.code, err: push.err }).toMatchObject({ code: 0 });
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(10);
    expect(await get("/")).toEqual({ status: 200, body: "hello v2\n" });
    expect(await get("/env/GREETING")).toEqual({ status: 200, body: "hi there" });
  }, LONG);

  test("releases:rollback deploys the previous release's code without building", async () => {
    const before = Date.now();
    await owner.ok(["releases:rollback", "-a", APP]);
    expect(await get("/")).toEqual({ status: 200, body: "hello v1\n" });
    expect(Date.now() - before).toBeLessThan(60_000);
    const releases = JSON.parse(await owner.ok(["releases", "-a", APP, "--json"]));
    expect(releases[0]).toMatchObject({ summary: "Rollback to v2", status: "succeeded" });
  }, LONG);

  test("a push that fails to build is rejected, and the running release keeps serving", async () => {
    writeFileSync(join(repo, "lib/hello/version.ex"), "defmodule Hello.Version do\n  def marker, do: \n");
    await git(["commit", "-qam", "broken"]);
    const push = await git(["push", "beamstalk", "main"], sshEnv());
    expect(push.code).not.toBe(0);
    expect(push.err).toContain("push rejected; the running release was not changed");
    expect(push.err).toMatch(/remote: .*(SyntaxError|TokenMissingError|CompileError)/);
    expect(await get("/")).toEqual({ status: 200, body: "hello v1\n" });
    expect((await git(["reset", "-q", "--hard", "HEAD~1"])).code).toBe(0);
  }, LONG);

  test("pushes to other branches are accepted and not deployed", async () => {
    await git(["checkout", "-q", "-b", "feature"]);
    setVersion("hello feature");
    await git(["commit", "-qam", "feature"]);
    const push = await git(["push", "beamstalk", "feature"], sshEnv());
    expect(push.code).toBe(0);
    expect(push.err).toContain("refs/heads/feature: accepted, not deployed (only main or master deploys)");
    expect(await get("/")).toEqual({ status: 200, body: "hello v1\n" });
    await git(["checkout", "-q", "main"]);
  }, LONG);

  test("odd ref names are accepted and not deployed; nothing runs them", async () => {
    for (const ref of ["refs/heads/$(id)", "refs/heads/a;id", "refs/tags/--upload-pack=x", "refs/heads/-h"]) {
      const push = await git(["push", "beamstalk", `HEAD:${ref}`], sshEnv());
      expect({ ref, code: push.code }).toEqual({ ref, code: 0 });
      expect(push.err).toContain(`${ref}: accepted, not deployed`);
    }
    expect(await get("/")).toEqual({ status: 200, body: "hello v1\n" });
  }, LONG);

  test("pushes to one app run one at a time: the second is told it waits; -o clean wipes the cache", async () => {
    setVersion("hello v3");
    await git(["commit", "-qam", "v3"]);
    const first = git(["push", "-o", "clean", "beamstalk", "main"], sshEnv());
    await Bun.sleep(1500);
    const second = git(["push", `${daemon.url}/${APP}.git`, "HEAD:master"]);
    const [a, b] = await Promise.all([first, second]);
    expect({ a: a.code, b: b.code }).toEqual({ a: 0, b: 0 });
    expect(a.err).toContain("remote: -----> Clean build: the build cache was wiped");
    expect(b.err).toContain(`remote: another deploy of ${APP} is running: waiting for it to finish`);
    expect(a.err).not.toContain("waiting for it to finish");
    expect(await get("/")).toEqual({ status: 200, body: "hello v3\n" });
  }, LONG);

  test("another user cannot push to the app, and an unknown app is not created", async () => {
    const invite = JSON.parse(await owner.ok(["invites:create", "eve@example.com", "--json"]));
    const eve = new CliUser(daemon.url);
    await eve.ok(["signup", "--email", "eve@example.com", "--invite", invite.code], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
    const eveKey = /password (\S+)/.exec(readFileSync(join(eve.home, ".netrc"), "utf8"))![1]!;
    const auth = ["-c", `http.extraheader=Authorization: Basic ${btoa(`git:${eveKey}`)}`];
    const theirs = await git([...auth, "push", `${daemon.url}/${APP}.git`, "main"]);
    expect(theirs.code).not.toBe(0);
    expect(theirs.err).toMatch(/not found/i);
    const unknown = await git([...auth, "push", `${daemon.url}/nope-app.git`, "main"]);
    expect(unknown.code).not.toBe(0);
    expect(existsSync(join(daemon.dataDir, "repos", "nope-app.git"))).toBe(false);
    expect(await get("/")).toEqual({ status: 200, body: "hello v3\n" });
    eve.cleanup();
  }, LONG);

  test("an app without distribution (RELEASE_DISTRIBUTION=none) deploys on its port alone: no rpc health check", async () => {
    await owner.ok(["config:set", "-a", APP, "RELEASE_DISTRIBUTION=none"]);
    expect((await get("/env/RELEASE_DISTRIBUTION")).body).toBe("none");
    expect((await get("/node")).body).toBe("nonode@nohost");
    await owner.ok(["config:unset", "-a", APP, "RELEASE_DISTRIBUTION"]);
    expect((await get("/env/RELEASE_DISTRIBUTION")).body).toBe("name");
  }, LONG);

  test("a config change made while a push builds lands on the pushed code, not the code it was recorded on", async () => {
    setVersion("hello v4");
    await git(["commit", "-qam", "v4"]);
    const push = git(["push", "beamstalk", "main"], sshEnv());
    await Bun.sleep(1500); // the build has read the config by now
    const set = owner.run(["config:set", "-a", APP, "RACE=during-build"]);
    const [pushed, configured] = await Promise.all([push, set]);
    expect({ push: pushed.code, config: configured.code }).toEqual({ push: 0, config: 0 });
    expect(await get("/")).toEqual({ status: 200, body: "hello v4\n" });
    expect((await get("/env/RACE")).body).toBe("during-build");
    const [latest] = JSON.parse(await owner.ok(["releases", "-a", APP, "--json"])) as { summary: string; status: string }[];
    expect(latest).toMatchObject({ status: "succeeded" });
    expect(latest!.summary).toMatch(/^Set RACE config var \(onto v\d+\)$/);
  }, LONG);

  test("a restarted daemon routes to the replicas that kept running", async () => {
    const before = runningLabelled(`beamstalk.app=${APP}`).sort();
    expect(await daemon.stop("SIGTERM")).toBe(0);
    daemon = await startDaemon({ dataDir: daemon.dataDir });
    expect(before.length).toBeGreaterThan(0);
    expect(runningLabelled(`beamstalk.app=${APP}`).sort()).toEqual(before);
    expect(await get("/")).toEqual({ status: 200, body: "hello v4\n" });
  }, LONG);

  test("apps:destroy stops the app's replicas", async () => {
    const cli = new CliUser(daemon.url);
    await cli.ok(["login", "--email", "owner@example.com"], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
    await cli.ok(["apps:destroy", "-a", APP, "--confirm", APP]);
    expect(containersLabelled(`beamstalk.app=${APP}`)).toEqual([]);
    expect((await get("/")).status).not.toBe(200);
    cli.cleanup();
  }, LONG);
});
