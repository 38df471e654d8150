import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import { execOutput } from "../../src/deploy/beam.ts";
import { DockerRunner } from "../../src/runner/docker/runner.ts";
import { runnerContract } from "../contract/runner.contract.ts";
import { SLUG_COMMAND, get, makeSlug, testAppFiles } from "../contract/test-slug.ts";

/**
 * The runner contract against the real engine, plus what only Docker shows.
 * Every object carries beamstalk.test=<run id> and is removed in afterAll.
 */
const IMAGE = "beamstalk/run:bookworm";
const RUN = `rt${Math.random().toString(36).slice(2, 8)}`;
const TEST_LABEL = { "beamstalk.test": RUN };
const docker = new Docker({ socketPath: "/var/run/docker.sock" });
const logger = createMemoryLogger();
const bootDir = mkdtempSync(join(tmpdir(), "beamstalk-runner-"));

// As the daemon runs it: replicas boot with a burst of CPU and are settled to their size's limit.
const makeRunner = () => new DockerRunner({ bootDir: join(bootDir, "runner"), logger, labels: TEST_LABEL, bootTimeoutMs: 30_000, bootCpus: 1 });

async function leftovers(app?: string): Promise<string[]> {
  const label = [`beamstalk.test=${RUN}`, ...(app ? [`beamstalk.app=${app}`] : [])];
  const containers = await docker.listContainers({ all: true, filters: { label } });
  const networks = await docker.listNetworks({ filters: { label } });
  return [...containers.map((c) => c.Names[0] ?? c.Id), ...networks.map((n) => n.Name)];
}

afterAll(async () => {
  for (const c of await docker.listContainers({ all: true, filters: { label: [`beamstalk.test=${RUN}`] } })) {
    await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
  }
  for (const n of await docker.listNetworks({ filters: { label: [`beamstalk.test=${RUN}`] } })) {
    await docker.getNetwork(n.Id).remove().catch(() => {});
  }
  rmSync(bootDir, { recursive: true, force: true });
});

runnerContract("docker", async () => ({ runner: makeRunner(), cleanup: async () => {} }), {
  image: IMAGE,
  appPrefix: RUN,
  logLines: () => logger.lines,
  limits: async (id) => {
    const { HostConfig } = await docker.getContainer(id).inspect();
    return { memoryBytes: HostConfig.Memory ?? 0, nanoCpus: HostConfig.NanoCpus ?? 0 };
  },
  leftovers,
});

describe("docker specifics", () => {
  const app = `${RUN}-d`;
  let runner: DockerRunner;
  let dir = "";
  let slug = "";
  const spec = (over: Record<string, unknown> = {}) => ({
    app, release: 1, process: "web", index: 1, image: IMAGE, command: SLUG_COMMAND, slugPath: slug, env: {}, port: 4000, size: 0.25, ...over,
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "beamstalk-docker-"));
    slug = await makeSlug(dir, "app.tar.gz", testAppFiles());
    runner = makeRunner();
  });

  afterAll(async () => {
    await runner.removeApp(app).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  test("publishes no port, mounts read-only, drops root, restarts unless stopped", async () => {
    const r = await runner.start(spec());
    const info = await docker.getContainer(r.id).inspect();
    expect(info.NetworkSettings.Ports ?? {}).toEqual({});
    expect(Object.keys(info.HostConfig.PortBindings ?? {})).toEqual([]);
    // Docker lists mounts in no fixed order.
    expect(info.Mounts.map((m) => [m.Destination, m.RW]).sort()).toEqual([
      ["/beamstalk/boot", false],
      ["/beamstalk/slug.tar.gz", false],
    ]);
    expect(info.HostConfig.RestartPolicy?.Name).toBe("unless-stopped");
    expect(info.Config.Hostname).toBe(r.hostname);
    expect(info.Args.join(" ")).not.toMatch(/=/);
    const uid = await get(r, "/uid");
    expect(uid).toBe("1000");
    await runner.stop(r.id, 5);
  }, 60_000);

  test("a crashed process is restarted by the engine and keeps its unpacked /app", async () => {
    const r = await runner.start(spec({ index: 2 }));
    const info = await docker.getContainer(r.id).inspect();
    expect(await get(r, "/crash")).toBe("crashing");
    let restarted = info;
    for (let i = 0; i < 200 && restarted.RestartCount === 0; i++) {
      await Bun.sleep(50);
      restarted = await docker.getContainer(r.id).inspect();
    }
    expect(restarted.RestartCount).toBeGreaterThan(0);
    expect(await get(r, "/")).toBe("hello from web.2"); // serving again, same address
    const lines = [];
    for await (const l of runner.logs(r.id)) lines.push(l.line);
    const node = `beamstalk-boot: node ${r.app}@${r.address.host}`;
    expect(lines.filter((l) => l.startsWith("beamstalk-boot: "))).toEqual([
      "beamstalk-boot: unpacked slug into /app (7 entries)",
      node,
      "beamstalk-boot: starting process",
      "beamstalk-boot: slug already unpacked (container restart)",
      node,
      "beamstalk-boot: starting process",
    ]);
    // What commands run in it later (rpc, remote, the health check) read its node name from.
    const env = await execOutput(runner, r.id, ["cat", "/var/lib/beamstalk/node.env"]);
    expect(env.code).toBe(0);
    expect(env.stdout).toBe(`export MY_POD_IP=${r.address.host} RELEASE_NODE=${r.app}@${r.address.host} MY_NODE_NAME=${r.app}@${r.address.host}\n`);
    await runner.stop(r.id, 5);
  }, 60_000);

  test("slug names that are absolute or hold '..' are refused by the boot script", async () => {
    const abs = await makeSlug(dir, "abs.tar.gz", { files: { x: "x" }, tarArgs: ["-P", "--transform", "s,^\\./x$,/tmp/x,"] });
    await expect(runner.start(spec({ release: 7, slugPath: abs }))).rejects.toThrow(/absolute path: \/tmp\/x/);
    const dots = await makeSlug(dir, "dots.tar.gz", { files: { x: "x" }, tarArgs: ["--transform", "s,^\\./x$,a/../../x,"] });
    await expect(runner.start(spec({ release: 7, slugPath: dots }))).rejects.toThrow(/'\.\.' path: a\/\.\.\/\.\.\/x/);
    expect((await runner.list(app)).filter((r) => r.release === 7)).toEqual([]);
  }, 60_000);

  test("a network of the same name that Beamstalk did not create is refused", async () => {
    const name = `beamstalk-${RUN}-x`;
    const net = await docker.createNetwork({ Name: name, Labels: TEST_LABEL });
    try {
      await expect(runner.ensureNetwork(`${RUN}-x`)).rejects.toThrow(/did not create/);
    } finally {
      await net.remove();
    }
  });

  test("stop refuses a container that is not a replica", async () => {
    const own = await docker.createContainer({ Image: IMAGE, Cmd: ["true"], Labels: TEST_LABEL, name: `${RUN}-foreign` });
    try {
      await expect(runner.stop(own.id)).rejects.toThrow(/not a Beamstalk replica/);
    } finally {
      await own.remove({ force: true });
    }
  });

  test("nothing is left with this run's label", async () => {
    await runner.removeApp(app);
    expect(await leftovers(app)).toEqual([]);
  });
});
