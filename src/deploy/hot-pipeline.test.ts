import { afterAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import type { UpgradePackage } from "../builder/types.ts";
import { createMemoryLogger } from "../lib/logger.ts";
import type { ExecSession, Replica, Runner } from "../runner/types.ts";
import { openDatabase } from "../state/db.ts";
import { createState } from "../state/index.ts";
import { installExpr, restoreExpr } from "./hot.ts";
import { Deployer } from "./pipeline.ts";
import type { BuildSlug, PushRequest } from "./types.ts";

/**
 * The hot upgrade path of Deployer.push (`git push -o hot`): checkout (a real
 * git repo), a fake build that makes an upgrade package, and a fake runner whose
 * replicas answer the package copy and the :release_handler rpcs.
 */

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const PKG = { name: "hello", from: "0.1.0", to: "0.2.0" };
const OLD_SLUG = "a".repeat(64);
const NEW_SLUG = "b".repeat(64);
const ZERO = "0".repeat(40);

/** A bare repo with one commit, as the git server keeps an app's pushes. */
function bareRepo(dir: string): { repo: string; sha: string } {
  const work = join(dir, "work");
  const repo = join(dir, "hello.git");
  mkdirSync(work);
  const git = (cwd: string, ...args: string[]) => {
    const res = Bun.spawnSync(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "init.defaultBranch=main", ...args], { cwd, env: { PATH: process.env.PATH, HOME: dir } });
    if (res.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${res.stderr.toString()}`);
    return res.stdout.toString().trim();
  };
  git(work, "init", "-q");
  writeFileSync(join(work, "mix.exs"), 'defmodule Hello.MixProject do\n  def project, do: [app: :hello, version: "0.2.0"]\nend\n');
  writeFileSync(join(work, "Procfile"), "web: bin/hello start\n");
  git(work, "add", "-A");
  git(work, "commit", "-qm", "v0.2.0");
  git(dir, "clone", "-q", "--bare", work, repo);
  return { repo, sha: git(work, "rev-parse", "HEAD") };
}

function replica(index: number, overrides: Partial<Replica> = {}): Replica {
  return {
    id: `c${index}`,
    name: `hello-web-${index}`,
    hostname: `web-${index}.hello`,
    app: "hello",
    release: 1,
    process: "web",
    index,
    address: { host: `172.18.0.${index + 1}`, port: 5000 },
    state: "running",
    startedAt: new Date().toISOString(),
    restarts: 0,
    size: 1,
    ...overrides,
  };
}

type Call = { id: string; kind: "copy" | "install" | "restore" | "other"; target?: string; bytes?: string };

/**
 * A runner with the given replicas. exec answers the package copy (reading it
 * from stdin, as `cat` would) and the rpcs: install as `installReply(id)` says
 * (default :ok), restore always :ok.
 */
function fakeRunner(replicas: Replica[], installReply: (id: string) => string = () => "beamstalk-hot: :ok\n") {
  const calls: Call[] = [];
  const notHere = (what: string) => async () => {
    throw new Error(`${what} is not expected in a hot upgrade`);
  };
  const runner: Runner = {
    slugDelivery: "mount",
    ensureNetwork: notHere("ensureNetwork"),
    start: notHere("start"),
    settle: notHere("settle"),
    stop: notHere("stop"),
    removeApp: notHere("removeApp"),
    revive: notHere("revive"),
    stats: notHere("stats"),
    runJob: notHere("runJob"),
    events: () => {
      throw new Error("events is not expected in a hot upgrade");
    },
    logs: () => {
      throw new Error("logs is not expected in a hot upgrade");
    },
    list: async (app?: string) => replicas.filter((r) => app === undefined || r.app === app),
    async exec(id: string, argv: string[]): Promise<ExecSession> {
      const stdin = new PassThrough();
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      const session = (exited: Promise<number>): ExecSession => ({ stdin, stdout, stderr, resize: async () => {}, close: () => {}, exited });
      if (argv[0] === "/bin/bash" && argv[2]?.startsWith("cat >")) {
        // The package copy: its bytes arrive on stdin; it exits once stdin ends.
        const call: Call = { id, kind: "copy", target: argv[4]! };
        calls.push(call);
        const chunks: Buffer[] = [];
        stdin.on("data", (c: Buffer) => chunks.push(c));
        const exited = new Promise<number>((done) =>
          stdin.on("end", () => {
            call.bytes = Buffer.concat(chunks).toString("utf8");
            stdout.end();
            stderr.end();
            done(0);
          }),
        );
        return session(exited);
      }
      stdin.resume();
      const expr = argv[argv.length - 1];
      const rpc = argv.includes("rpc") && argv.includes(`/app/bin/${PKG.name}`);
      const kind = rpc && expr === installExpr(PKG) ? "install" : rpc && expr === restoreExpr(PKG) ? "restore" : "other";
      calls.push({ id, kind });
      stdout.end(kind === "install" ? installReply(id) : kind === "restore" ? "beamstalk-hot: :ok\n" : "");
      stderr.end(kind === "other" ? "unexpected command\n" : "");
      return session(Promise.resolve(kind === "other" ? 1 : 0));
    },
  };
  return { runner, calls };
}

/**
 * A Deployer on a fresh state holding app `hello` that serves v1 (a slug, web
 * at `webCount` replicas), with a fake build that writes a slug and an upgrade
 * package into its slugDir.
 */
function setup(options: { replicas: Replica[]; webCount?: number; installReply?: (id: string) => string }) {
  const dir = mkdtempSync(join(tmpdir(), "beamstalk-hot-pipeline-"));
  dirs.push(dir);
  const { db } = openDatabase(join(dir, "state.db"));
  const state = createState(db, randomBytes(32));
  const owner = state.users.create({ email: "o@example.com", passwordHash: "x", isAdmin: false });
  const app = state.apps.create("hello", owner);
  state.releases.append({
    appId: app.id,
    appName: app.name,
    summary: "Deploy 1111111",
    config: { GREETING: "v1" },
    slug: OLD_SLUG,
    processTypes: { web: "bin/hello start" },
    buildpacks: ["builtin:elixir"],
    gitSha: "1".repeat(40),
    status: "succeeded",
    createdBy: owner.id,
  });
  state.formation.set(app.id, "web", { count: options.webCount ?? options.replicas.length, size: 1 });
  const { repo, sha } = bareRepo(dir);
  const paths = { repos: join(dir, "repos"), slugs: join(dir, "slugs"), cache: join(dir, "cache"), tmp: join(dir, "tmp") };
  const fake = fakeRunner(options.replicas, options.installReply);
  const builds: Parameters<BuildSlug>[0][] = [];
  let upgrade: UpgradePackage | null = null;
  const sources: string[] = [];
  const build: BuildSlug = async (opts) => {
    builds.push(opts);
    sources.push(readFileSync(join(opts.sourceDir, "Procfile"), "utf8")); // what checkout wrote (gone after the push)
    const slugPath = join(opts.slugDir, `${NEW_SLUG}.tar.gz`);
    writeFileSync(slugPath, "slug");
    upgrade = { path: join(opts.slugDir, `${NEW_SLUG}.upgrade.tar.gz`), ...PKG };
    writeFileSync(upgrade.path, "upgrade package bytes");
    return { slug: { path: slugPath, sha256: NEW_SLUG, bytes: 4 }, processTypes: { web: "bin/hello start" }, buildpacks: ["builtin:elixir"], upgrade };
  };
  const logger = createMemoryLogger();
  const deployer = new Deployer({
    state,
    runner: fake.runner,
    router: {
      setRoute: () => {
        throw new Error("a hot upgrade changes no route");
      },
      drain: async () => ({ drained: true, inFlight: 0 }),
      removeRoute: () => {
        throw new Error("a hot upgrade removes no route");
      },
    },
    build,
    stackReady: async () => ({ runImage: "beamstalk/run:bookworm" }),
    paths,
    logger,
    baseDomain: "apps.test",
  });
  const request: PushRequest = {
    app: "hello",
    userId: owner.id,
    repoPath: repo,
    refs: [{ old: ZERO, new: sha, ref: "refs/heads/main" }],
    gitEnv: {},
    pushOptions: ["hot"],
    clean: false,
  };
  return {
    state,
    app,
    deployer,
    request,
    sha,
    builds,
    sources,
    calls: fake.calls,
    logger,
    slugDir: join(paths.slugs, "hello"),
    upgrade: () => upgrade,
    /** Kinds of exec per replica id, in order. */
    kindsOf: (id: string) => fake.calls.filter((c) => c.id === id).map((c) => c.kind),
  };
}

test("hot upgrade, every replica installs: the new release serves, hot from the old one; the package is gone", async () => {
  const t = setup({ replicas: [replica(1), replica(2)] });
  const lines: string[] = [];
  expect(await t.deployer.push(t.request, (l) => lines.push(l))).toBe(0);

  // The build was asked for a hot upgrade of the serving slug.
  expect(t.builds).toHaveLength(1);
  expect(t.builds[0]!.previousSlug).toBe(join(t.slugDir, `${OLD_SLUG}.tar.gz`));
  expect(t.sources).toEqual(["web: bin/hello start\n"]);

  // Each replica got the package in its /app/releases, then the install rpc; nobody was restored.
  for (const id of ["c1", "c2"]) {
    expect(t.kindsOf(id)).toEqual(["copy", "install"]);
    expect(t.calls.find((c) => c.id === id && c.kind === "copy")).toMatchObject({ target: "/app/releases/hello-0.2.0.tar.gz", bytes: "upgrade package bytes" });
  }

  const v2 = t.state.releases.get(t.app.id, 2)!;
  expect(v2).toMatchObject({ status: "succeeded", hotFrom: 1, slug: NEW_SLUG, gitSha: t.sha, processTypes: { web: "bin/hello start" } });
  expect(t.state.releases.config(t.app.id, "hello", 2)).toEqual({ GREETING: "v1" });
  expect(t.state.releases.current(t.app.id)?.version).toBe(2);
  expect(t.state.releases.lineage(t.app.id, 2)).toEqual(new Set([1, 2]));
  expect(existsSync(t.upgrade()!.path)).toBe(false);
  expect(lines.join("\n")).toContain("-----> Hot upgrade v2: installing hello 0.2.0 over 0.1.0 on web.1, web.2");
  expect(lines.join("\n")).toContain("hello v2 (0.2.0) is live on 2 replicas, upgraded in place");
});

test("hot upgrade, one replica fails: every replica is put back, the release fails, the old one still serves", async () => {
  const t = setup({
    replicas: [replica(1), replica(2), replica(3)],
    installReply: (id) => (id === "c2" ? "beamstalk-hot: {:error, {:bad_relup_file, ~c\"relup\"}}\n" : "beamstalk-hot: :ok\n"),
  });
  const lines: string[] = [];
  expect(await t.deployer.push(t.request, (l) => lines.push(l))).toBe(1);

  for (const id of ["c1", "c2", "c3"]) expect(t.kindsOf(id)).toEqual(["copy", "install", "restore"]);
  expect(t.state.releases.get(t.app.id, 2)).toMatchObject({ status: "failed", hotFrom: 1 });
  expect(t.state.releases.current(t.app.id)?.version).toBe(1);
  expect(existsSync(t.upgrade()!.path)).toBe(false);

  const output = lines.join("\n");
  expect(output).toContain('web.2: the upgrade failed: {:error, {:bad_relup_file, ~c"relup"}}');
  expect(output).not.toContain("web.1: the upgrade failed");
  expect(output).toContain("-----> Putting every replica back on 0.1.0");
  expect(output).toContain("the hot upgrade to 0.2.0 failed on 1 of 3 replicas; every replica is back on 0.1.0");
  expect(output).toContain("push rejected");
});

test("hot upgrade, the client goes away once the release is recorded: the replicas are still put back and the release fails", async () => {
  const t = setup({ replicas: [replica(1), replica(2)] });
  let gone = false;
  const out = (line: string) => {
    if (line.startsWith("-----> Hot upgrade v")) gone = true;
    if (gone) throw new Error("client went away");
  };
  // Whether push reports 1 or passes the client's error up (the HTTP route
  // catches both), the deploy must reach a final state first.
  const outcome = await t.deployer.push(t.request, out).catch((err: Error) => err);
  expect(outcome === 1 || (outcome instanceof Error && outcome.message === "client went away")).toBe(true);

  for (const id of ["c1", "c2"]) expect(t.kindsOf(id)).toContain("restore");
  expect(t.calls.filter((c) => c.kind === "restore").map((c) => c.id).sort()).toEqual(["c1", "c2"]);
  const v2 = t.state.releases.get(t.app.id, 2)!;
  expect(v2.status).toBe("failed");
  expect(t.state.releases.current(t.app.id)?.version).toBe(1);
  expect(existsSync(t.upgrade()!.path)).toBe(false);
});

test("hot upgrade, a replica of the formation is not running: refused before anything is built", async () => {
  for (const replicas of [[replica(1), replica(2, { state: "restarting" })], [replica(1)]]) {
    const t = setup({ replicas, webCount: 2 });
    const lines: string[] = [];
    expect(await t.deployer.push(t.request, (l) => lines.push(l))).toBe(1);
    expect(t.builds).toHaveLength(0);
    expect(t.calls).toHaveLength(0);
    expect(lines.join("\n")).toContain("web.2 is not running, so it cannot be upgraded in place");
    expect(t.state.releases.list(t.app.id).map((r) => r.version)).toEqual([1]);
    expect(t.state.releases.current(t.app.id)?.version).toBe(1);
  }
});
