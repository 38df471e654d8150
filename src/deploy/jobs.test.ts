import { expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMemoryLogger } from "../lib/logger.ts";
import { Secret } from "../lib/secret.ts";
import { openDatabase } from "../state/db.ts";
import { type App, createState } from "../state/index.ts";
import { Jobs } from "./jobs.ts";

const dir = mkdtempSync(join(tmpdir(), "beamstalk-jobs-unit-"));
const { db } = openDatabase(join(dir, "state.db"));
const state = createState(db, randomBytes(32));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

const jobs = new Jobs({
  state,
  runner: { slugDelivery: "mount", runJob: async () => ({ exitCode: 0, timedOut: false }) },
  stackReady: async () => ({ runImage: "beamstalk/run:bookworm" }),
  slugsDir: "/data/slugs",
  logger: createMemoryLogger(),
  baseDomain: "apps.test",
});

function release(app: App, version: { slug: string | null; status: "succeeded" | "failed" | "recorded"; config: Record<string, string> }) {
  state.releases.append({ appId: app.id, appName: app.name, summary: "x", config: version.config, slug: version.slug, gitSha: null, status: version.status, createdBy: null });
}

const owner = state.users.create({ email: "o@example.com", passwordHash: "x", isAdmin: false });

test("a job runs the serving release: its slug, its config over the replica environment", async () => {
  const app = state.apps.create("hello", owner);
  release(app, { slug: "aa11", status: "succeeded", config: { GREETING: "v1", PORT: "5000" } });
  release(app, { slug: "bb22", status: "failed", config: { GREETING: "v2" } });
  const spec = await jobs.prepare(app, { argv: ["bin/hello", "eval", "1"], size: 2 });
  expect(spec).toMatchObject({ app: "hello", release: 1, image: "beamstalk/run:bookworm", argv: ["bin/hello", "eval", "1"], size: 2, slugPath: "/data/slugs/hello/aa11.tar.gz" });
  expect(spec.slugUrl).toBeUndefined();
  expect(spec.env).toMatchObject({ GREETING: "v1", PORT: "5000", APP_NAME: "hello", PHX_HOST: "hello.apps.test", PHX_SERVER: "true", DNS_CLUSTER_QUERY: "hello.internal" });
  expect(spec.env.SECRET_KEY_BASE).toBeInstanceOf(Secret);
  expect((spec.env.SECRET_KEY_BASE as Secret).reveal()).toBe(state.apps.secrets(app).secretKeyBase.reveal());
});

test("an app with no deployed release gets a clear error", async () => {
  const app = state.apps.create("empty", owner);
  await expect(jobs.prepare(app, { argv: ["true"], size: 1 })).rejects.toThrow("empty has no deployed release to run a command in");
  release(app, { slug: null, status: "recorded", config: { A: "1" } });
  await expect(jobs.prepare(app, { argv: ["true"], size: 1 })).rejects.toThrow(/no deployed release/);
});

test("the argv is checked before anything else", async () => {
  const app = state.apps.byName("hello")!;
  await expect(jobs.prepare(app, { argv: [], size: 1 })).rejects.toThrow(/no command given/);
});

test("with a runner that delivers slugs by URL, the job gets the controller's URL of its release's slug and the release's token", async () => {
  const app = state.apps.byName("hello")!;
  const byUrl = (controllerUrl?: () => string) =>
    new Jobs({
      state,
      runner: { slugDelivery: "url", runJob: async () => ({ exitCode: 0, timedOut: false }) },
      stackReady: async () => ({ runImage: "beamstalk/run:bookworm" }),
      slugsDir: "/data/slugs",
      logger: createMemoryLogger(),
      ...(controllerUrl ? { controllerUrl } : {}),
    });
  const spec = await byUrl(() => "http://10.0.0.1:8080/").prepare(app, { argv: ["true"], size: 1 });
  expect(spec.slugPath).toBe("/data/slugs/hello/aa11.tar.gz");
  expect(spec.slugUrl?.url).toBe("http://10.0.0.1:8080/internal/slugs/hello/1");
  expect(spec.slugUrl?.token.reveal()).toBe(state.slugTokens.tokenFor(app, 1).reveal());
  expect(JSON.stringify(spec)).not.toContain(state.slugTokens.tokenFor(app, 1).reveal());
  await expect(byUrl().prepare(app, { argv: ["true"], size: 1 })).rejects.toThrow("no controller URL is set (--controller-url, BEAMSTALK_CONTROLLER_URL)");
});
