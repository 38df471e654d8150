import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMemoryLogger } from "../lib/logger.ts";
import type { ReplicaSpec, Runner, SlugDelivery } from "../runner/types.ts";
import { openDatabase } from "../state/db.ts";
import { createState } from "../state/index.ts";
import { Deployer } from "./pipeline.ts";
import { rollout } from "./rollout.ts";
import { applyScale } from "./scale.ts";
import { slugSource } from "./slug-source.ts";

const dir = mkdtempSync(join(tmpdir(), "beamstalk-slug-source-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const { db } = openDatabase(join(dir, "state.db"));
const state = createState(db, randomBytes(32));
const owner = state.users.create({ email: "o@example.com", passwordHash: "x", isAdmin: false });
const app = state.apps.create("hello", owner);
const v1 = state.releases.append({ appId: app.id, appName: "hello", summary: "x", config: {}, slug: "aa11", processTypes: { web: "bin/hello start" }, gitSha: null, status: "succeeded", createdBy: null });
const token = state.slugTokens.tokenFor(app, v1.version);

describe("slugSource: the one place that decides how a container gets its slug", () => {
  const deps = (slugDelivery: SlugDelivery, controllerUrl?: string) => ({ runner: { slugDelivery }, tokens: state.slugTokens, slugsDir: "/data/slugs", ...(controllerUrl ? { controllerUrl: () => controllerUrl } : {}) });

  test("a runner that mounts gets the path only", () => {
    expect(slugSource(deps("mount", "http://ctl:80"), app, v1)).toEqual({ slugPath: "/data/slugs/hello/aa11.tar.gz" });
  });

  test("a runner that delivers by URL gets the controller's URL of the release's slug and its token as well", () => {
    const source = slugSource(deps("url", "http://10.0.0.1:8080/"), app, v1);
    expect(source.slugPath).toBe("/data/slugs/hello/aa11.tar.gz");
    expect(source.slugUrl?.url).toBe("http://10.0.0.1:8080/internal/slugs/hello/1");
    expect(source.slugUrl?.token.reveal()).toBe(token.reveal());
    expect(JSON.stringify(source)).not.toContain(token.reveal());
  });

  test("without a controller URL, or for a release with no build, it says why", () => {
    expect(() => slugSource(deps("url"), app, v1)).toThrow("no controller URL is set (--controller-url, BEAMSTALK_CONTROLLER_URL)");
    expect(() => slugSource(deps("mount"), app, { version: 2, slug: null })).toThrow("v2 has no build to run");
  });
});

/** A runner that records what it is asked to start and refuses it (no engine here). */
function recordingRunner(slugDelivery: SlugDelivery) {
  const started: ReplicaSpec[] = [];
  const runner = {
    slugDelivery,
    ensureNetwork: async () => {},
    list: async () => [],
    stop: async () => {},
    start: async (spec: ReplicaSpec) => {
      started.push(spec);
      throw new Error("no engine in this test");
    },
  } as unknown as Runner;
  return { runner, started };
}

describe("the pipeline hands the slug URL to every start", () => {
  const router = { setRoute: () => {}, drain: async () => ({ drained: true, inFlight: 0 }), removeRoute: () => {} };
  const paths = { repos: join(dir, "repos"), slugs: "/data/slugs", cache: join(dir, "cache"), tmp: join(dir, "tmp") };
  const deployer = (runner: Runner, controllerUrl?: string) =>
    new Deployer({
      state,
      runner,
      router,
      build: async () => {
        throw new Error("no build here");
      },
      stackReady: async () => ({ runImage: "beamstalk/run:bookworm" }),
      paths,
      logger: createMemoryLogger(),
      ...(controllerUrl ? { controllerUrl: () => controllerUrl } : {}),
    });

  test("plan(): a mounting runner's plan has no slug URL; a URL runner's has the release's", () => {
    expect(deployer(recordingRunner("mount").runner, "http://ctl").plan(app, v1, "img")).not.toHaveProperty("slugUrl");
    const plan = deployer(recordingRunner("url").runner, "http://ctl:8080").plan(app, v1, "img");
    expect(plan.slugPath).toBe("/data/slugs/hello/aa11.tar.gz");
    expect(plan.slugUrl?.url).toBe("http://ctl:8080/internal/slugs/hello/1");
    expect(plan.slugUrl?.token.reveal()).toBe(token.reveal());
  });

  test("a rollout and a scale-up start replicas with it", async () => {
    const { runner, started } = recordingRunner("url");
    const plan = deployer(runner, "http://ctl:8080").plan(app, v1, "img");
    const deps = { state, runner, router, logger: createMemoryLogger() };
    await expect(rollout(deps, plan, () => {})).rejects.toThrow("a replica did not start: no engine in this test");
    await expect(applyScale(deps, app, owner, { ...plan, formation: { web: { count: 0, size: 1 } } }, { web: { count: 1, size: 1 } }, () => {})).rejects.toThrow("no engine in this test");
    expect(started).toHaveLength(2);
    for (const spec of started) {
      expect(spec.slugUrl?.url).toBe("http://ctl:8080/internal/slugs/hello/1");
      expect(spec.slugUrl?.token.reveal()).toBe(token.reveal());
    }
  });
});
