import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { build, BuildError, type BuildOptions } from "../../src/builder/index.ts";
import { Secret } from "../../src/lib/secret.ts";
import {
  appName,
  cleanup,
  containersNamed,
  gitBuildpack,
  slugFiles,
  tempDir,
  unpack,
  writeBuildpack,
  writeFiles,
} from "./support.ts";

afterAll(cleanup);

const LONG = 60_000;

/** A build with fresh dirs; `lines` collects the output. */
function setup(label: string, files: Record<string, string> = { "index.txt": "hi\n" }) {
  const sourceDir = writeFiles(tempDir(`${label}-src`), files);
  const base = tempDir(label);
  const lines: string[] = [];
  const options: BuildOptions = {
    app: appName(label),
    sourceDir,
    cacheDir: join(base, "cache"),
    slugDir: join(base, "slugs"),
    env: {},
    onOutput: (line) => lines.push(line),
  };
  return { options, lines, base };
}

async function failure(promise: Promise<unknown>): Promise<BuildError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof BuildError) return error;
    throw error;
  }
  throw new Error("expected the build to fail");
}

describe("the Heroku buildpack API", () => {
  test("a failing detect in an explicit list is an error naming the buildpack", async () => {
    const { options, base } = setup("detect");
    const bp = writeBuildpack(join(base, "picky"), { detect: "exit 1", compile: "exit 0" });
    const error = await failure(build({ ...options, buildpacks: [bp] }));
    expect(error.reason).toBe("detect");
    expect(error.message).toContain(`${bp}: bin/detect failed`);
    expect(slugFiles(options.slugDir).filter((f) => f.endsWith(".tar.gz"))).toEqual([]);
  }, LONG);

  test("no buildpack detecting the app (built-in Elixir, no mix.exs) says so", async () => {
    const { options } = setup("nodetect");
    const error = await failure(build(options));
    expect(error.reason).toBe("detect");
    expect(error.message).toContain("App not compatible with any buildpack (builtin:elixir)");
  }, LONG);

  test("a failing compile carries its last output lines; no slug, nothing left behind", async () => {
    const { options, lines, base } = setup("compile");
    const bp = writeBuildpack(join(base, "bp"), {
      compile: 'echo "-----> Doing things"\necho "       step one"\necho "boom: the widget broke" >&2\nexit 3',
    });
    const error = await failure(build({ ...options, buildpacks: [bp] }));
    expect(error.reason).toBe("compile");
    expect(error.message).toContain("failed to compile");
    expect(error.message).toContain("bin/compile exited 3");
    expect(error.tail).toContain("boom: the widget broke");
    expect(error.message).toContain("boom: the widget broke");
    expect(lines).toContain("-----> Doing things");
    expect(readdirSync(options.slugDir)).toEqual([]);
    expect(await containersNamed(`beamstalk-build-${options.app}`)).toEqual([]);
  }, LONG);

  test("the export file of buildpack 1 is sourced before buildpack 2 runs", async () => {
    const { options, base } = setup("export");
    const one = writeBuildpack(join(base, "one"), {
      compile: 'echo "export FROM_ONE=\\"set by one\\"" >"$(dirname "$0")/../export"',
    });
    const two = writeBuildpack(join(base, "two"), { compile: 'echo "$FROM_ONE" >"$1/seen.txt"' });
    const result = await build({ ...options, buildpacks: [one, two] });
    expect(result.buildpacks).toEqual([one, two]);
    const app = await unpack(result.slug.path);
    expect(readFileSync(join(app, "seen.txt"), "utf8")).toBe("set by one\n");
  }, LONG);

  test("bin/release gives default process types; the app's Procfile overrides them", async () => {
    const { options, base } = setup("release", { Procfile: "web: ./custom-web --port $PORT\n" });
    const bp = writeBuildpack(join(base, "bp"), {
      compile: "true",
      release: 'cat <<YAML\n---\naddons: []\ndefault_process_types:\n  web: ./default-web\n  worker: "./work --hard"\nYAML',
    });
    const result = await build({ ...options, buildpacks: [bp] });
    expect(result.processTypes).toEqual({ web: "./custom-web --port $PORT", worker: "./work --hard" });
  }, LONG);

  test(".buildpacks runs local paths and git URLs (with #ref) in order", async () => {
    const { options, base } = setup("order");
    const compile = (name: string) => `echo ${name} >>"$1/order.txt"`;
    writeBuildpack(join(options.sourceDir, "buildpacks/one"), { compile: compile("one") });
    const two = await gitBuildpack(join(base, "two"), compile("two"));
    const three = await gitBuildpack(join(base, "three"), compile("three"), "v2");
    writeFiles(options.sourceDir, { ".buildpacks": `buildpacks/one\n${two}\n\n${three}#v2\n` });
    const result = await build({ ...options, allowFileGitUrls: true });
    expect(result.buildpacks).toEqual(["buildpacks/one", two, `${three}#v2`]);
    const app = await unpack(result.slug.path);
    expect(readFileSync(join(app, "order.txt"), "utf8")).toBe("one\ntwo\nthree\n");
    expect(readFileSync(join(app, "branch.txt"), "utf8")).toBe("on v2\n");
  }, LONG);

  test("file:// URLs in .buildpacks are refused unless allowed", async () => {
    const { options } = setup("fileurl", { ".buildpacks": "file:///tmp/nothing.git\n" });
    const error = await failure(build(options));
    expect(error.reason).toBe("buildpack");
    expect(error.message).toContain("file:// URLs are not allowed");
  });

  test("config vars reach ENV_DIR as files and never appear in the output", async () => {
    const { options, lines, base } = setup("env");
    const bp = writeBuildpack(join(base, "bp"), {
      compile: [
        'echo "-----> env dir holds: $(ls "$3" | tr "\\n" " ")"',
        'mkdir -p "$1/seen" && cp "$3"/* "$1/seen/"',
        'echo "careless buildpack prints: $(cat "$3/API_TOKEN")"',
        '[ -z "${API_TOKEN:-}" ] || echo "API_TOKEN leaked into the environment"',
      ].join("\n"),
    });
    const env = { API_TOKEN: new Secret("tok-9f8e7d6c5b4a"), PLAIN_VAR: "plain-value-4242", MULTI: "line one\nline two" };
    const result = await build({ ...options, env, buildpacks: [bp] });
    const app = await unpack(result.slug.path);
    expect(readFileSync(join(app, "seen/API_TOKEN"), "utf8")).toBe("tok-9f8e7d6c5b4a");
    expect(readFileSync(join(app, "seen/PLAIN_VAR"), "utf8")).toBe("plain-value-4242");
    expect(readFileSync(join(app, "seen/MULTI"), "utf8")).toBe("line one\nline two");
    const output = lines.join("\n");
    expect(output).toContain("env dir holds: API_TOKEN MULTI PLAIN_VAR");
    expect(output).toContain("careless buildpack prints: [REDACTED]");
    expect(output).not.toContain("tok-9f8e7d6c5b4a");
    expect(output).not.toContain("leaked");
  }, LONG);

  test("a build over its time limit is stopped, says so, and leaves no container", async () => {
    const { options, base } = setup("timeout");
    const bp = writeBuildpack(join(base, "bp"), { compile: 'echo "-----> sleeping"\nsleep 120' });
    const started = Date.now();
    const error = await failure(build({ ...options, buildpacks: [bp], timeoutMs: 3000 }));
    expect(error.reason).toBe("timeout");
    expect(error.message).toContain("build timed out after 3 s");
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(await containersNamed(`beamstalk-build-${options.app}`)).toEqual([]);
    expect(readdirSync(options.slugDir)).toEqual([]);
  }, LONG);

  test("an aborted build stops the container", async () => {
    const { options, base } = setup("abort");
    const bp = writeBuildpack(join(base, "bp"), { compile: "sleep 120" });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 2000);
    const error = await failure(build({ ...options, buildpacks: [bp], signal: controller.signal }));
    expect(error.reason).toBe("cancelled");
    expect(await containersNamed(`beamstalk-build-${options.app}`)).toEqual([]);
  }, LONG);

  test("a slug over the cap is refused with a clear error", async () => {
    const { options, base } = setup("cap");
    const bp = writeBuildpack(join(base, "bp"), { compile: 'head -c 3000000 /dev/urandom >"$1/big.bin"' });
    const error = await failure(build({ ...options, buildpacks: [bp], maxSlugBytes: 1_000_000 }));
    expect(error.reason).toBe("slug_too_large");
    expect(error.message).toContain("slug is over the cap of 1000000 bytes");
    expect(readdirSync(options.slugDir)).toEqual([]);
  }, LONG);

  test("slugs are content-addressed: same input, same sha, one file; the source is not touched", async () => {
    const { options, base } = setup("sha");
    const bp = writeBuildpack(join(base, "bp"), { compile: 'echo built >"$1/out.txt"\nrm -f "$1/index.txt"' });
    const first = await build({ ...options, buildpacks: [bp] });
    const second = await build({ ...options, buildpacks: [bp] });
    expect(second.slug).toEqual(first.slug);
    expect(first.slug.path).toBe(join(options.slugDir, `${first.slug.sha256}.tar.gz`));
    expect(readdirSync(options.slugDir)).toEqual([`${first.slug.sha256}.tar.gz`]);
    const hash = new Bun.CryptoHasher("sha256").update(readFileSync(first.slug.path)).digest("hex");
    expect(hash).toBe(first.slug.sha256);
    expect(readdirSync(options.sourceDir)).toEqual(["index.txt"]);
    expect(existsSync(join(options.sourceDir, "out.txt"))).toBe(false);
  }, LONG);
});
