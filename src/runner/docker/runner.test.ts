import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import { createMemoryLogger } from "../../lib/logger.ts";
import { Secret } from "../../lib/secret.ts";
import { DockerRunner } from "./runner.ts";

// The real engine is exercised by test/runner/docker.test.ts; this covers an engine
// error that quotes the create body, which a real engine cannot be made to produce on cue.
test("an engine error quoting a Secret is redacted before it is logged or thrown", async () => {
  const dir = mkdtempSync(join(tmpdir(), "beamstalk-runner-unit-"));
  try {
    const slug = join(dir, "slug.tar.gz");
    writeFileSync(slug, Bun.gzipSync(Buffer.from("x")));
    const engine = {
      getNetwork: () => ({ inspect: async () => ({ Labels: { "beamstalk.managed": "true" } }) }),
      createContainer: async (body: Docker.ContainerCreateOptions) => {
        throw Object.assign(new Error(`bad env: ${body.Env?.join(",")}`), { statusCode: 400 });
      },
    } as unknown as Docker;
    const logger = createMemoryLogger();
    const runner = new DockerRunner({ bootDir: dir, logger, docker: engine });
    const spec = { app: "hello", release: 1, process: "web", index: 1, image: "i", command: "c", slugPath: slug, env: { K: new Secret("hunter2-value") }, port: 4000, size: 1 };
    const error = await runner.start(spec).then(() => null, (err: Error) => err);
    expect(error?.message).toContain("K=[REDACTED]");
    expect(error?.message).not.toContain("hunter2-value");
    expect(logger.lines.join("\n")).not.toContain("hunter2-value");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the slug token is redacted from engine errors too; a runner delivering by URL refuses a spec without a slug URL", async () => {
  const dir = mkdtempSync(join(tmpdir(), "beamstalk-runner-unit-"));
  try {
    const bodies: Docker.ContainerCreateOptions[] = [];
    const engine = {
      getNetwork: () => ({ inspect: async () => ({ Labels: { "beamstalk.managed": "true" } }) }),
      createContainer: async (body: Docker.ContainerCreateOptions) => {
        bodies.push(body);
        throw Object.assign(new Error(`bad env: ${body.Env?.join(",")}`), { statusCode: 400 });
      },
    } as unknown as Docker;
    const logger = createMemoryLogger();
    const runner = new DockerRunner({ bootDir: dir, logger, docker: engine, slugDelivery: "url" });
    expect(runner.slugDelivery).toBe("url");
    // The slug is not on this host: no file is looked at.
    const spec = { app: "hello", release: 1, process: "web", index: 1, image: "i", command: "c", slugPath: "/nowhere/slug.tar.gz", env: {}, port: 4000, size: 1 };
    const error = await runner.start({ ...spec, slugUrl: { url: "http://ctl/internal/slugs/hello/1", token: new Secret("tok3n-value") } }).then(() => null, (err: Error) => err);
    expect(error?.message).toContain("BEAMSTALK_SLUG_TOKEN=[REDACTED]");
    expect(logger.lines.join("\n")).not.toContain("tok3n-value");
    expect(bodies).toHaveLength(1);
    await expect(runner.start(spec)).rejects.toThrow("this runner delivers slugs by URL, but the spec has no slugUrl");
    expect(bodies).toHaveLength(1);
    expect(new DockerRunner({ bootDir: dir, logger, docker: engine }).slugDelivery).toBe("mount");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
