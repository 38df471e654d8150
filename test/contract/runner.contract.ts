import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Secret } from "../../src/lib/secret.ts";
import type { Replica, ReplicaSpec, Runner } from "../../src/runner/types.ts";
import { runnerJobContract } from "./runner-jobs.contract.ts";
import { SLUG_COMMAND, get, makeSlug, reaches, testAppFiles } from "./test-slug.ts";

/**
 * What every Runner must do (DESIGN §5.3): Docker now, Swarm later. Each
 * implementation's test file calls runnerContract with a factory and fixtures.
 *
 * Decision for broken slugs: start() REJECTS (with a message naming the cause)
 * and leaves no replica behind; it never resolves with an exited replica.
 */
export interface RunnerFixtures {
  /** The run image, e.g. beamstalk/run:bookworm. */
  image: string;
  /** Unique per test run; every app name starts with it ([a-z][a-z0-9-]*, short). */
  appPrefix: string;
  /** Every line the runner's logger wrote so far (the runners made by `make` share it). */
  logLines(): string[];
  /** The engine's own view of a replica's limits. */
  limits(id: string): Promise<{ memoryBytes: number; nanoCpus: number }>;
  /** Names of engine objects (containers, networks, services) still there for the app. */
  leftovers(app: string): Promise<string[]>;
  /** Where a replica fetches a slug at this host path over HTTP (runners whose replicas run on other hosts). */
  slugUrl?(slugPath: string): NonNullable<ReplicaSpec["slugUrl"]>;
  /**
   * The name all of an app's replicas answer to (DNS_CLUSTER_QUERY); default
   * `<app>.internal`. Kubernetes gives the app's headless Service its own
   * name instead (`<app>.<namespace>.svc.cluster.local`).
   */
  internalName?(app: string): string;
}

export type MakeRunner = () => Promise<{ runner: Runner; cleanup(): Promise<void> }>;

const PORT = 4000;
const T = 60_000;

export function runnerContract(name: string, make: MakeRunner, fixtures: RunnerFixtures): void {
  describe(`Runner contract: ${name}`, () => {
    const appA = `${fixtures.appPrefix}-a`;
    const appB = `${fixtures.appPrefix}-b`;
    const secretValue = `s3cret-${crypto.randomUUID()}`;
    let dir = "";
    let slug = "";
    let runner: Runner;
    let cleanup: () => Promise<void>;
    let a1: Replica;
    let a2: Replica;
    let b1: Replica;
    const internal = (app: string) => fixtures.internalName?.(app) ?? `${app}.internal`;

    const spec = (over: Partial<ReplicaSpec> = {}): ReplicaSpec => {
      const s: ReplicaSpec = { app: appA, release: 1, process: "web", index: 1, image: fixtures.image, command: SLUG_COMMAND, slugPath: slug, env: {}, port: PORT, size: 0.25, ...over };
      return fixtures.slugUrl ? { ...s, slugUrl: fixtures.slugUrl(s.slugPath) } : s;
    };

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "beamstalk-contract-"));
      slug = await makeSlug(dir, "app.tar.gz", testAppFiles());
      ({ runner, cleanup } = await make());
    });

    afterAll(async () => {
      for (const app of [appA, appB]) await runner?.removeApp(app).catch(() => {});
      await cleanup?.();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test("starts a replica from a slug and answers HTTP at its address", async () => {
      const began = performance.now();
      a1 = await runner.start(spec({ env: { GREETING: "hello there", API_TOKEN: new Secret(secretValue) } }));
      const started = performance.now();
      expect(await get(a1, "/")).toBe("hello from web.1");
      console.log(`[${name}] start() ${Math.round(started - began)} ms; first HTTP answer ${Math.round(performance.now() - began)} ms after start()`);
      expect(a1).toMatchObject({ app: appA, release: 1, process: "web", index: 1, state: "running", address: { port: PORT } });
      expect(a1.address.host).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(a1.hostname).toMatch(new RegExp(`^web-1-[a-z0-9]+\\.${appA}$`));
      expect(Date.parse(a1.startedAt ?? "")).toBeGreaterThan(Date.now() - 120_000);
    }, T);

    test("env reaches the process (a Secret too), the Secret is in no log line", async () => {
      expect(await get(a1, "/env/GREETING")).toBe("hello there");
      expect(await get(a1, "/env/API_TOKEN")).toBe(secretValue);
      expect(await get(a1, "/env/PORT")).toBe(String(PORT));
      expect(await get(a1, "/env/HOME")).toBe("/app");
      expect(await get(a1, "/env/PROFILE_D_RAN")).toBe("yes, in /app");
      // The node is named by the replica's IP on the app's network (what <app>.internal resolves to).
      expect(await get(a1, "/env/RELEASE_NODE")).toBe(`${appA}@${a1.address.host}`);
      expect(await get(a1, "/env/MY_NODE_NAME")).toBe(`${appA}@${a1.address.host}`);
      expect(await get(a1, "/env/RELEASE_DISTRIBUTION")).toBe("name");
      expect(await get(a1, "/env/DNS_CLUSTER_QUERY")).toBe(internal(appA));
      expect(await get(a1, "/env/MY_POD_IP")).toBe(a1.address.host);
      expect(fixtures.logLines().length).toBeGreaterThan(0);
      for (const line of fixtures.logLines()) expect(line).not.toContain(secretValue);
    }, T);

    test("replicas of one app reach each other by <app>.internal and by host name", async () => {
      a2 = await runner.start(spec({ index: 2 }));
      expect(await get(a2, "/")).toBe("hello from web.2"); // listening (start() does not wait for that)
      expect(await reaches(a1, `/probe/${internal(appA)}/${PORT}`)).toBe("ok");
      expect(await reaches(a1, `/probe/${a2.hostname}/${PORT}`)).toBe("ok");
      expect(await reaches(a2, `/probe/${a1.hostname}/${PORT}`)).toBe("ok");
      expect(await reaches(a2, `/probe/${a1.address.host}/${PORT}`)).toBe("ok");
    }, T);

    test("a replica of another app cannot reach them", async () => {
      b1 = await runner.start(spec({ app: appB }));
      expect(await get(b1, "/")).toBe("hello from web.1");
      expect(await get(b1, `/probe/${internal(appA)}/${PORT}`)).toBe("fail");
      expect(await get(b1, `/probe/${a1.hostname}/${PORT}`)).toBe("fail");
      expect(await get(b1, `/probe/${a1.address.host}/${PORT}`)).toBe("fail");
      expect(await get(a1, `/probe/${b1.address.host}/${PORT}`)).toBe("fail");
    }, T);

    test("list finds replicas by app, with release/process/index, from a new runner too", async () => {
      const mine = (await runner.list(appA)).map(identity);
      expect(mine).toEqual([identity(a1), identity(a2)]);
      expect((await runner.list(appB)).map(identity)).toEqual([identity(b1)]);
      const ids = (await runner.list()).map((r) => r.id);
      for (const r of [a1, a2, b1]) expect(ids).toContain(r.id);

      const fresh = await make();
      try {
        const seen = await fresh.runner.list(appA);
        expect(seen.map(identity)).toEqual([identity(a1), identity(a2)]);
        expect(seen.map((r) => r.state)).toEqual(["running", "running"]);
        expect(seen[0]!.address).toEqual(a1.address);
      } finally {
        await fresh.cleanup();
      }
      expect(await get(a1, "/")).toBe("hello from web.1"); // a runner going away stops nothing
    }, T);

    test("logs give the replica's output", async () => {
      const lines = [];
      for await (const line of runner.logs(a1.id)) lines.push(line);
      expect(lines).toContainEqual({ stream: "stderr", line: "beamstalk-boot: starting process" });
      expect(lines).toContainEqual({ stream: "stdout", line: `listening on ${PORT}` });
      const tail = [];
      for await (const line of runner.logs(a1.id, { tail: 1 })) tail.push(line);
      expect(tail).toHaveLength(1);
    }, T);

    test("exec runs argv in a replica as the app user: output, exit code, args intact (no shell on the way)", async () => {
      const odd = ["a b", "it's", '"quoted"', "$(id)", "`id`", "; id", "*", "\\n", "ünï"];
      const echo = await runner.exec(a1.id, ["printf", "%s\\n", ...odd], { tty: false });
      const [out, err, code] = await Promise.all([text(echo.stdout), text(echo.stderr), echo.exited]);
      expect(code).toBe(0);
      expect(err).toBe("");
      expect(out).toBe(odd.map((arg) => `${arg}\n`).join(""));

      const who = await runner.exec(a1.id, ["bash", "-c", 'echo "$(id -u) $HOME $PWD $GREETING $EXTRA"; echo to-stderr >&2; cat; exit 7'], { tty: false, env: { EXTRA: "x y" } });
      who.stdin.end("from stdin\n");
      const [whoOut, whoErr, whoCode] = await Promise.all([text(who.stdout), text(who.stderr), who.exited]);
      expect(whoOut).toBe("1000 /app /app hello there x y\nfrom stdin\n");
      expect(whoErr).toBe("to-stderr\n");
      expect(whoCode).toBe(7);

      const tty = await runner.exec(a1.id, ["bash", "-c", "stty size; tty >/dev/null && echo on-a-tty"], { tty: true, size: { rows: 33, cols: 101 } });
      const [ttyOut, ttyCode] = await Promise.all([text(tty.stdout), tty.exited]);
      expect(ttyOut.replaceAll("\r", "")).toBe("33 101\non-a-tty\n");
      expect(ttyCode).toBe(0);

      await expect(runner.exec(a1.id, [], { tty: false })).rejects.toThrow(/argv/);
    }, T);

    test("stop sends SIGTERM first: the request in flight finishes", async () => {
      const slow = get(a2, "/slow/2");
      await Bun.sleep(300);
      const began = performance.now();
      await runner.stop(a2.id, 20);
      const took = performance.now() - began;
      expect(await slow).toBe("slow done");
      expect(took).toBeLessThan(10_000); // it exited on SIGTERM, not at the SIGKILL deadline
      expect((await runner.list(appA)).map((r) => r.id)).toEqual([a1.id]);
      await runner.stop(a2.id, 1); // stopping a stopped replica is fine
    }, T);

    test("memory and CPU limits follow the size once settled (a runner may let a replica boot with more CPU)", async () => {
      await runner.settle(a1.id);
      expect(await fixtures.limits(a1.id)).toEqual({ memoryBytes: 256 * 1024 ** 2, nanoCpus: 50_000_000 });
      const big = await runner.start(spec({ index: 5, size: 2 }));
      expect((await fixtures.limits(big.id)).nanoCpus).toBeGreaterThanOrEqual(400_000_000);
      await runner.settle(big.id);
      await runner.settle(big.id);
      expect(await fixtures.limits(big.id)).toEqual({ memoryBytes: 2 * 1024 ** 3, nanoCpus: 400_000_000 });
      expect(await get(big, "/env/PORT")).toBe("4000");
      await runner.stop(big.id, 5);
    }, T);

    describe("a broken slug: start() rejects clearly and leaves nothing running", () => {
      const broken = async (slugPath: string, message: RegExp) => {
        await expect(runner.start(spec({ release: 9, slugPath }))).rejects.toThrow(message);
        expect((await runner.list(appA)).filter((r) => r.release === 9)).toEqual([]);
      };

      test("missing", () => broken(join(dir, "nope.tar.gz"), /slug .*nope\.tar\.gz does not exist/), T);

      test("not gzip", () => {
        writeFileSync(join(dir, "text.tar.gz"), "this is not a slug");
        return broken(join(dir, "text.tar.gz"), /not a gzip archive/);
      }, T);

      test("gzip but not tar", async () => {
        writeFileSync(join(dir, "gz.tar.gz"), Bun.gzipSync(Buffer.from("plain text, no tar header ".repeat(40))));
        await broken(join(dir, "gz.tar.gz"), /not a valid tar archive/);
      }, T);

      test("a symlink leaving /app", async () => {
        const evil = await makeSlug(dir, "evil.tar.gz", { files: { "server.pl": "" }, links: { "etc": "../../etc" } });
        await broken(evil, /symlink leaving \/app: etc -> \.\.\/\.\.\/etc/);
      }, T);

      test("a command that cannot run exits; start already resolved, list shows it not running", async () => {
        // The boot succeeded; what the process does next is the health check's business.
        const r = await runner.start(spec({ release: 3, command: "exit 3" }));
        let state = r.state;
        for (let i = 0; i < 100 && state === "running"; i++) {
          await Bun.sleep(50);
          state = (await runner.list(appA)).find((x) => x.id === r.id)?.state ?? "unknown";
        }
        expect(["restarting", "exited", "starting"]).toContain(state);
        await runner.stop(r.id, 1);
      }, T);
    });

    test("removeApp removes every replica and the network, and is idempotent", async () => {
      await runner.removeApp(appA);
      await runner.removeApp(appB);
      expect(await runner.list(appA)).toEqual([]);
      expect(await runner.list(appB)).toEqual([]);
      expect(await fixtures.leftovers(appA)).toEqual([]);
      expect(await fixtures.leftovers(appB)).toEqual([]);
      await runner.removeApp(appA);
      for (const line of fixtures.logLines()) expect(line).not.toContain(secretValue);
    }, T);
  });
  runnerJobContract(name, make, fixtures);
}

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}

function identity(r: Replica) {
  return { id: r.id, app: r.app, release: r.release, process: r.process, index: r.index, hostname: r.hostname };
}
