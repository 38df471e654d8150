import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CliUser, type RunningDaemon } from "../support/daemon.ts";
import { type FixtureApp, daemonWithFixture, removeAppContainers } from "../support/fixture-app.ts";

/**
 * The seed's guide to a staging and a production app, step by step with
 * `beamstalk` in place of `gigalixir`: one repository, two apps, a git remote
 * for each, each push deploys its own app and no other.
 */
const RUN = Math.random().toString(36).slice(2, 8);
const STAGING = `env-${RUN}-staging`;
const PRODUCTION = `env-${RUN}-production`;
const LONG = 5 * 60_000;
let daemon: RunningDaemon;
let owner: CliUser;
let fixture: FixtureApp;

async function get(app: string, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(daemon.url + path, { headers: { host: `${app}.apps.test` }, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text() };
}

beforeAll(async () => {
  // "beamstalk create -n $APP_NAME-staging" in the repository: the app and its `beamstalk` remote.
  ({ daemon, owner, fixture } = await daemonWithFixture(STAGING));
}, LONG);

afterAll(async () => {
  for (const app of [STAGING, PRODUCTION]) await owner?.run(["apps:destroy", "-a", app, "--confirm", app]);
  await daemon?.stop();
  for (const app of [STAGING, PRODUCTION]) removeAppContainers(app);
  owner?.cleanup();
}, LONG);

describe("staging and production from one repository", () => {
  test("rename the remote, create the second app, push to each: each deploys its own app", async () => {
    const git = async (args: string[]) => {
      const res = await fixture.git(args);
      expect({ args, code: res.code, err: res.code === 0 ? "" : res.err }).toEqual({ args, code: 0, err: "" });
      return res;
    };
    await git(["remote", "rename", "beamstalk", "staging"]);
    await owner.ok(["apps:create", PRODUCTION], { cwd: fixture.repo });
    await git(["remote", "rename", "beamstalk", "production"]);
    const remotes = (await git(["remote", "-v"])).out;
    expect(remotes).toMatch(new RegExp(`^staging\\s+\\S+/${STAGING}\\.git \\(push\\)$`, "m"));
    expect(remotes).toMatch(new RegExp(`^production\\s+\\S+/${PRODUCTION}\\.git \\(push\\)$`, "m"));

    // Each app its own config; with no `beamstalk` remote left, commands name the app.
    const bare = await owner.run(["config"], { cwd: fixture.repo });
    expect(bare.code).not.toBe(0);
    expect(bare.stderr).toContain("pass -a APP");
    await owner.ok(["config:set", "-a", STAGING, "STAGE=staging"]);
    await owner.ok(["config:set", "-a", PRODUCTION, "STAGE=production"]);

    const staging = await git(["push", "staging", "main"]);
    expect(staging.err).toMatch(new RegExp(`${STAGING} v\\d+ is live`));
    expect((await get(STAGING, "/env/STAGE")).body).toBe("staging");
    expect((await get(PRODUCTION, "/")).status).not.toBe(200); // nothing deployed there yet

    const production = await git(["push", "production", "main"]);
    expect(production.err).toMatch(new RegExp(`${PRODUCTION} v\\d+ is live`));
    expect((await get(PRODUCTION, "/env/STAGE")).body).toBe("production");
    expect((await get(STAGING, "/env/STAGE")).body).toBe("staging");

    // A change goes to staging first; production keeps what it runs until it is pushed too.
    await Bun.write(`${fixture.repo}/lib/hello/version.ex`, (await Bun.file(`${fixture.repo}/lib/hello/version.ex`).text()).replace(/"hello v[^"]*"/, '"hello v-next"'));
    await git(["commit", "-qam", "next"]);
    await git(["push", "staging", "main"]);
    expect((await get(STAGING, "/")).body).toContain("hello v-next");
    expect((await get(PRODUCTION, "/")).body).not.toContain("hello v-next");
    const releases = async (app: string) => JSON.parse(await owner.ok(["releases", "-a", app, "--json"])) as { version: number; status: string }[];
    const [ofStaging, ofProduction] = [await releases(STAGING), await releases(PRODUCTION)];
    expect(ofStaging[0]?.status).toBe("succeeded");
    expect(ofProduction[0]?.status).toBe("succeeded");
    expect(ofStaging.length).toBe(ofProduction.length + 1);
  }, LONG);
});
