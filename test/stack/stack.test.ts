import { afterAll, describe, expect, test } from "bun:test";
import { exec } from "../../src/lib/exec.ts";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import { BUILD_IMAGE, ensureStackImages, RUN_IMAGE, buildStackImage, imageRecipe, stackImageCurrent, stackRecipe } from "../../src/stack/index.ts";
import { recipeHash } from "../../src/stack/spec.ts";

// Real debootstrap against deb.debian.org and a real `docker import`, into
// throw-away tags. The build image from scratch takes minutes: it runs only
// with BEAMSTALK_TEST_BUILD_STACK=1 (it was built once for real as
// beamstalk/build:bookworm by the same code).
const suffix = crypto.randomUUID().slice(0, 8);
const RUN_TAG = `beamstalk-test/run:${suffix}`;
const BUILD_TAG = `beamstalk-test/build:${suffix}`;
const OLD_TAG = `beamstalk-test/old:${suffix}`;

afterAll(async () => {
  await exec(["docker", "image", "rm", "--force", "--", RUN_TAG, BUILD_TAG, OLD_TAG]);
});

const inImage = (tag: string, script: string) =>
  exec(["docker", "run", "--rm", "--name", `bsbt-stack-${crypto.randomUUID().slice(0, 8)}`, "--", tag, "bash", "-c", script]);

describe("stack images", () => {
  test("ensureStackImages builds a missing run image from scratch and says so", async () => {
    const logger = createMemoryLogger();
    const lines: string[] = [];
    const built = await ensureStackImages({ logger, kinds: ["run"], images: { run: RUN_TAG }, onOutput: (l) => lines.push(l) });
    expect(built).toHaveLength(1);
    const [result] = built;
    console.log(`run image from scratch: ${result?.seconds.toFixed(1)} s, ${((result?.bytes ?? 0) / 1e6).toFixed(0)} MB`);
    expect(lines[0]).toBe(`-----> Stack image ${RUN_TAG} is missing; building it (takes a few minutes)`);
    expect(logger.lines.some((line) => line.includes("stack.image.missing"))).toBe(true);
    expect(result?.bytes).toBeLessThan(250e6);

    const probe = await inImage(
      RUN_TAG,
      'psql --version && curl --version | head -1 && test -e /usr/lib/x86_64-linux-gnu/libssl.so.3 && test -s /etc/ssl/certs/ca-certificates.crt && echo "LANG=$LANG" && ls /usr/share/doc | wc -l && ls /var/lib/apt/lists | wc -l',
    );
    expect(probe.code).toBe(0);
    expect(probe.stdout).toContain("psql (PostgreSQL) 15");
    expect(probe.stdout).toMatch(/\ncurl \d+\.\d+/);
    expect(probe.stdout).toContain("LANG=C.UTF-8\n0\n0\n");
    const labels = await exec(["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", "--", RUN_TAG]);
    expect(JSON.parse(labels.stdout)).toEqual({ "beamstalk.stack": "bookworm", "beamstalk.stack.kind": "run", "beamstalk.stack.recipe": recipeHash(stackRecipe("run")) });
    expect(await stackImageCurrent("run", RUN_TAG)).toBe(true);

    const again = await ensureStackImages({ logger, kinds: ["run"], images: { run: RUN_TAG } });
    expect(again).toEqual([]);
  }, 600_000);

  test("an image built before recipe labels, or from another recipe, is not current", async () => {
    // A tiny image standing in for one an older Beamstalk imported (ensureStackImages then rebuilds it).
    const made = Bun.spawnSync(["docker", "import", "--change", "LABEL beamstalk.stack.kind=run", "-", OLD_TAG], { stdin: Bun.gzipSync(new Uint8Array(1024)) });
    expect(made.exitCode).toBe(0);
    expect(await imageRecipe(OLD_TAG)).toBe("");
    expect(await stackImageCurrent("run", OLD_TAG)).toBe(false);
    expect(await imageRecipe(`beamstalk-test/none:${suffix}`)).toBeNull();
    const relabelled = Bun.spawnSync(["docker", "import", "--change", "LABEL beamstalk.stack.recipe=0000000000000000", "-", OLD_TAG], { stdin: Bun.gzipSync(new Uint8Array(1024)) });
    expect(relabelled.exitCode).toBe(0);
    expect(await imageRecipe(OLD_TAG)).toBe("0000000000000000");
    expect(await stackImageCurrent("run", OLD_TAG)).toBe(false);
  }, 60_000);

  test.skipIf(process.env.BEAMSTALK_TEST_BUILD_STACK !== "1")("builds the build image from scratch", async () => {
    const result = await buildStackImage("build", { logger: createMemoryLogger(), tag: BUILD_TAG });
    console.log(`build image from scratch: ${result.seconds.toFixed(1)} s, ${(result.bytes / 1e6).toFixed(0)} MB`);
    const probe = await inImage(BUILD_TAG, "elixir --version && node --version && npm --version && gcc --version && git --version");
    expect(probe.code).toBe(0);
  }, 1_200_000);

  test("the standard images exist and the build image has the toolchain", async () => {
    await ensureStackImages({ logger: createMemoryLogger() }); // no-op when both exist and are current
    const probe = await inImage(
      BUILD_IMAGE,
      "elixir -e 'IO.puts System.version()' && cat /usr/lib/erlang/releases/*/OTP_VERSION && ls -d /usr/lib/erlang/erts-*/include /usr/lib/erlang/lib/stdlib-*/src && node --version && npm --version && cc --version | head -1 && git --version && psql --version",
    );
    expect(probe.code).toBe(0);
    expect(probe.stdout).toMatch(/^1\.14\.\d+\n25\.\d/);
    expect((await exec(["docker", "image", "inspect", "--", RUN_IMAGE])).code).toBe(0);
  }, 120_000);
});
