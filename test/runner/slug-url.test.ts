import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import Docker from "dockerode";
import { Secret } from "../../src/lib/secret.ts";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import { DockerRunner } from "../../src/runner/docker/runner.ts";
import { networkName } from "../../src/runner/docker/spec.ts";
import { writeBootScript } from "../../src/runner/boot-script.ts";
import type { ReplicaSpec, SlugUrl } from "../../src/runner/types.ts";
import type { App } from "../../src/state/index.ts";
import { testApi } from "../support/api.ts";
import { SLUG_COMMAND, get, makeSlug, testAppFiles } from "../contract/test-slug.ts";

/**
 * Slug delivery by URL, for real: DockerRunner with slugDelivery "url" starts
 * containers that download their slug with curl from the real API route
 * (GET /internal/slugs/<app>/<release> over a real state.db), served by Bun on the
 * app network's gateway address, the host as a container sees it. A few paths under
 * /test/ play a controller that stalls, fails, or sends too much.
 */
const IMAGE = "beamstalk/run:bookworm";
const RUN = `su${Math.random().toString(36).slice(2, 8)}`;
const TEST_LABEL = { "beamstalk.test": RUN };
const APP = `${RUN}-u`;
const docker = new Docker({ socketPath: "/var/run/docker.sock" });
const logger = createMemoryLogger();

let t: ReturnType<typeof testApi>;
let runner: DockerRunner;
let server: ReturnType<typeof Bun.serve>;
let base = "";
let gateway = "";
let app: App;
let bootScriptPath = "";
/** Resolves the request /test/stall/… is holding. */
let release: () => void = () => {};
let stalled: Promise<void> = Promise.resolve();
const flaky = { failures: 0 };

const slugUrl = (path = `/internal/slugs/${APP}/1`, token = t.state.slugTokens.tokenFor(app, 1)): SlugUrl => ({ url: `${base}${path}`, token });
const spec = (over: Partial<ReplicaSpec> = {}): ReplicaSpec => ({
  app: APP, release: 1, process: "web", index: 1, image: IMAGE, command: SLUG_COMMAND, slugPath: "/nowhere/on/this/host.tar.gz", env: {}, port: 4000, size: 0.25, ...over,
});

/** The test's own answers; everything else is the real API. */
async function controller(req: Request): Promise<Response> {
  const url = new URL(req.url);
  const forward = (path: string) => t.api.fetch(new Request(new URL(path, url).href, { headers: req.headers }), { transport: "tcp" });
  if (url.pathname.startsWith("/test/stall/")) {
    await stalled;
    return forward(url.pathname.slice("/test/stall".length));
  }
  if (url.pathname.startsWith("/test/flaky/")) {
    if (flaky.failures-- > 0) return new Response("busy", { status: 503 });
    return forward(url.pathname.slice("/test/flaky".length));
  }
  if (url.pathname === "/test/redirect") return Response.redirect(`${base}/internal/slugs/${APP}/1`, 302);
  if (url.pathname === "/test/endless") {
    // No Content-Length: only the boot script's own limit can stop it.
    let sent = 0;
    return new Response(new ReadableStream({ pull: (c) => void (sent++ < 400 ? c.enqueue(new Uint8Array(64 * 1024)) : c.close()) }));
  }
  return forward(url.pathname + url.search);
}

async function containersOf(app: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`beamstalk.test=${RUN}`, `beamstalk.app=${app}`] } });
}

beforeAll(async () => {
  t = testApi();
  const admin = await t.admin();
  expect((await t.call("POST", "/api/apps", { key: admin, body: { name: APP } })).status).toBe(201);
  app = t.state.apps.byName(APP)!;
  mkdirSync(join(t.dir, "slugs", APP), { recursive: true });
  const slug = await makeSlug(join(t.dir, "slugs", APP), "0a1b2c.tar.gz", testAppFiles());
  t.state.releases.append({ appId: app.id, appName: APP, summary: "Deploy", config: {}, slug: basename(slug, ".tar.gz"), processTypes: { web: SLUG_COMMAND }, gitSha: "abc1234", status: "succeeded", createdBy: null });

  runner = new DockerRunner({ bootDir: join(t.dir, "runner"), logger, labels: TEST_LABEL, bootTimeoutMs: 30_000, bootCpus: 1, slugDelivery: "url" });
  bootScriptPath = writeBootScript(join(t.dir, "boot-only"));
  await runner.ensureNetwork(APP);
  const network = await docker.getNetwork(networkName(APP)).inspect();
  gateway = network.IPAM?.Config?.[0]?.Gateway ?? "";
  expect(gateway).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  // Only on the app network's gateway: the host as this app's containers reach it, nothing else.
  server = Bun.serve({ hostname: gateway, port: 0, fetch: controller });
  base = `http://${gateway}:${server.port}`;
}, 60_000);

afterAll(async () => {
  for (const c of await docker.listContainers({ all: true, filters: { label: [`beamstalk.test=${RUN}`] } })) {
    await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
  }
  await runner?.removeApp(APP).catch(() => {});
  server?.stop(true);
  t?.close();
});

describe("slug delivery by URL (DockerRunner, slugDelivery: url)", () => {
  test("a replica downloads its slug from the controller, boots and answers HTTP; the token is in no argv, log line or boot output", async () => {
    const token = t.state.slugTokens.tokenFor(app, 1);
    stalled = new Promise((resolve) => (release = resolve));
    const starting = runner.start(spec({ slugUrl: slugUrl(`/test/stall/internal/slugs/${APP}/1`, token) }));

    // While curl waits for the controller, nothing any process in the container shows holds the token.
    let cmdlines = "";
    for (let i = 0; i < 200 && !cmdlines.includes("curl"); i++) {
      await Bun.sleep(50);
      const [container] = await containersOf(APP);
      if (!container || container.State !== "running") continue;
      const e = await docker.getContainer(container.Id).exec({ Cmd: ["bash", "-c", "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' <$f; echo; done"], AttachStdout: true, AttachStderr: true });
      const stream = await e.start({});
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      cmdlines = Buffer.concat(chunks).toString();
    }
    release();
    expect(cmdlines).toContain(`curl --config -`);
    expect(cmdlines).toContain(`${base}/test/stall/internal/slugs/${APP}/1`);
    expect(cmdlines).not.toContain(token.reveal());

    const r = await starting;
    expect(await get(r, "/")).toBe("hello from web.1");
    // The app's process never sees the token.
    expect(await get(r, "/env/BEAMSTALK_SLUG_TOKEN")).toBe("unset");

    const info = await docker.getContainer(r.id).inspect();
    expect(info.Mounts.map((m) => m.Destination)).toEqual(["/beamstalk/boot"]);
    expect(JSON.stringify([info.Config.Cmd, info.Config.Entrypoint, info.Args, info.Path])).not.toContain(token.reveal());
    expect(info.Config.Env).toContain(`BEAMSTALK_SLUG_URL=${base}/test/stall/internal/slugs/${APP}/1`);

    const lines: string[] = [];
    for await (const l of runner.logs(r.id)) lines.push(l.line);
    const boot = lines.filter((l) => l.startsWith("beamstalk-boot: "));
    expect(boot[0]).toBe(`beamstalk-boot: fetching slug from ${base}/test/stall/internal/slugs/${APP}/1`);
    expect(boot[1]).toMatch(/^beamstalk-boot: fetched slug \(\d+ bytes\) in \d+ s$/);
    expect(boot.slice(2)).toEqual(["beamstalk-boot: unpacked slug into /app (7 entries)", `beamstalk-boot: node ${APP}@${r.address.host}`, "beamstalk-boot: starting process"]);
    expect(lines.join("\n")).not.toContain(token.reveal());
    expect(logger.lines.join("\n")).not.toContain(token.reveal());
    expect(t.logger.lines.some((l) => l.includes(`slug.served app=${APP} release=1`))).toBe(true);
    await runner.stop(r.id, 2);
  }, 90_000);

  test("a wrong token: start() rejects naming the HTTP status, and no container is left", async () => {
    const wrong = t.state.slugTokens.tokenFor(app, 2);
    const error = await runner.start(spec({ index: 2, slugUrl: slugUrl(undefined, wrong) })).then(() => null, (err: Error) => err);
    expect(error?.message).toBe(
      `replica web.2 of ${APP} v1 failed to boot: the controller refused the slug at ${base}/internal/slugs/${APP}/1: HTTP 404 (a wrong or missing token, or no such release)`,
    );
    expect(error?.message).not.toContain(wrong.reveal());
    expect(await containersOf(APP)).toEqual([]);
    expect(logger.lines.join("\n")).not.toContain(wrong.reveal());
  }, 60_000);

  test("a controller that answers 503 at first is retried with backoff", async () => {
    flaky.failures = 2;
    const r = await runner.start(spec({ index: 3, slugUrl: slugUrl(`/test/flaky/internal/slugs/${APP}/1`) }));
    const lines: string[] = [];
    for await (const l of runner.logs(r.id)) lines.push(l.line);
    expect(lines.filter((l) => l.includes("retrying"))).toEqual([
      "beamstalk-boot: fetching the slug failed (HTTP 503); retrying in 1 s",
      "beamstalk-boot: fetching the slug failed (HTTP 503); retrying in 2 s",
    ]);
    expect(await get(r, "/")).toBe("hello from web.3");
    await runner.stop(r.id, 2);
  }, 60_000);

  test("a one-off job downloads its slug the same way", async () => {
    const out: string[] = [];
    const result = await runner.runJob(
      { app: APP, release: 1, image: IMAGE, argv: ["perl", "-e", "print -e 'server.pl' ? 'has its slug' : 'no slug'"], slugPath: "/nowhere.tar.gz", slugUrl: slugUrl(), env: {}, size: 0.25 },
      { timeoutMs: 30_000, onOutput: (chunk) => out.push(new TextDecoder().decode(chunk)) },
    );
    expect(result).toEqual({ exitCode: 0, timedOut: false });
    expect(out.join("")).toBe("has its slug");
  }, 60_000);
});

describe("bad input gives the boot script's error line", () => {
  const failure = (over: Partial<ReplicaSpec>) => runner.start(spec({ index: 9, ...over })).then(() => "started", (err: Error) => err.message);
  const prefix = `replica web.9 of ${APP} v1 failed to boot: `;

  test("a slug larger than BEAMSTALK_SLUG_MAX_BYTES, as it says (Content-Length) or as it streams", async () => {
    expect(await failure({ slugUrl: slugUrl(), env: { BEAMSTALK_SLUG_MAX_BYTES: "1000" } })).toBe(
      `${prefix}the slug at ${base}/internal/slugs/${APP}/1 is larger than 1000 bytes (BEAMSTALK_SLUG_MAX_BYTES)`,
    );
    expect(await failure({ slugUrl: slugUrl("/test/endless"), env: { BEAMSTALK_SLUG_MAX_BYTES: "100000" } })).toBe(
      `${prefix}the slug at ${base}/test/endless is larger than 100000 bytes (BEAMSTALK_SLUG_MAX_BYTES)`,
    );
    expect(await containersOf(APP)).toEqual([]);
  }, 60_000);

  test("a controller that is down: retried within BEAMSTALK_SLUG_FETCH_SECONDS, then a clear error without the URL's query", async () => {
    const down = Bun.serve({ hostname: gateway, port: 0, fetch: () => new Response() });
    const port = down.port;
    down.stop(true);
    const began = performance.now();
    const message = await failure({ slugUrl: { url: `http://${gateway}:${port}/internal/slugs/${APP}/1?sig=query-secret-42`, token: new Secret("x") }, env: { BEAMSTALK_SLUG_FETCH_SECONDS: "4" } });
    const seconds = (performance.now() - began) / 1000;
    expect(message).toMatch(
      new RegExp(`^${escape(prefix)}could not fetch the slug from http://${escape(gateway)}:${port}/internal/slugs/${APP}/1 in [34] s \\(3 attempts\\): Failed to connect to ${escape(gateway)} port ${port}`),
    );
    expect(message).not.toContain("query-secret-42");
    expect(seconds).toBeLessThan(15);
  }, 60_000);

  test("no token, a forged one, no usable URL, a redirect: straight from the boot script (the runner never builds the first three); user info and query are never printed", async () => {
    const plain = { BEAMSTALK_COMMAND: SLUG_COMMAND, BEAMSTALK_APP: APP };
    expect(await bootScript({ ...plain, BEAMSTALK_SLUG_URL: `${base}/internal/slugs/${APP}/1` })).toEqual({
      code: 78,
      lines: [`beamstalk-boot: error: BEAMSTALK_SLUG_TOKEN is empty: the controller gives a slug only to the holder of its token`],
    });
    expect(await bootScript({ ...plain, BEAMSTALK_SLUG_URL: `${base}/internal/slugs/${APP}/1`, BEAMSTALK_SLUG_TOKEN: 'a"\nurl = "http://elsewhere/' })).toEqual({
      code: 78,
      lines: ["beamstalk-boot: error: BEAMSTALK_SLUG_TOKEN holds characters no slug token has"],
    });
    expect(await bootScript({ ...plain, BEAMSTALK_SLUG_URL: "file:///etc/passwd?x=1", BEAMSTALK_SLUG_TOKEN: "abc" })).toEqual({
      code: 78,
      lines: ["beamstalk-boot: error: BEAMSTALK_SLUG_URL is not an http(s) URL: file:///etc/passwd"],
    });
    expect(await bootScript({ ...plain, BEAMSTALK_SLUG_URL: `http://user:pw@${gateway}:${server.port}/test/redirect?t=1`, BEAMSTALK_SLUG_TOKEN: "abc" })).toEqual({
      code: 78,
      lines: [
        `beamstalk-boot: fetching slug from http://${gateway}:${server.port}/test/redirect`,
        `beamstalk-boot: error: the controller answered HTTP 302 for the slug at http://${gateway}:${server.port}/test/redirect (redirects are not followed)`,
      ],
    });
  }, 60_000);
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The boot script alone in a container of the run image, with exactly this environment; its exit code and lines. */
async function bootScript(env: Record<string, string>): Promise<{ code: number; lines: string[] }> {
  const container = await docker.createContainer({
    Image: IMAGE,
    Entrypoint: ["/bin/bash", "/beamstalk/boot"],
    Cmd: [],
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    Labels: { ...TEST_LABEL, "beamstalk.app": `${APP}-boot` },
    HostConfig: { NetworkMode: networkName(APP), Mounts: [{ Type: "bind", Source: bootScriptPath, Target: "/beamstalk/boot", ReadOnly: true }] },
  });
  try {
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    const raw = (await container.logs({ stdout: true, stderr: true })) as Buffer;
    // Docker's multiplexed log frames: an 8-byte header, then the payload.
    const text: string[] = [];
    for (let at = 0; at + 8 <= raw.length; at += 8 + raw.readUInt32BE(at + 4)) text.push(raw.subarray(at + 8, at + 8 + raw.readUInt32BE(at + 4)).toString());
    return { code: StatusCode, lines: text.join("").split("\n").filter(Boolean) };
  } finally {
    await container.remove({ force: true });
  }
}
