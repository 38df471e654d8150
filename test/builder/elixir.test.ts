import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { build, BuildError, type BuildOptions } from "../../src/builder/index.ts";
import { exec } from "../../src/lib/exec.ts";
import { RUN_IMAGE } from "../../src/stack/images.ts";
import { appName, cleanup, tempDir, unpack } from "./support.ts";

const FIXTURES = resolve(import.meta.dir, "../fixtures/apps");
const LONG = 180_000;
const containers: string[] = [];

afterAll(async () => {
  for (const name of containers) await exec(["docker", "rm", "--force", "--", name]);
  cleanup();
});

/**
 * Runs a slug the way a replica would (a stand-in for the runner): the run
 * image, the slug mounted read-only, unpacked to /app, `bin/hello start` on
 * PORT=4000. Returns the URL once /health answers 200.
 */
async function serve(slugPath: string, env: Record<string, string>): Promise<string> {
  const name = `bsbt-run-${crypto.randomUUID().slice(0, 8)}`;
  containers.push(name);
  const envArgs = Object.entries({ PORT: "4000", ...env }).flatMap(([key, value]) => ["--env", `${key}=${value}`]);
  const run = await exec([
    "docker", "run", "--detach", "--name", name, "--memory", "512m", ...envArgs,
    "--mount", `type=bind,source=${slugPath},target=/slug.tar.gz,readonly`,
    "--", RUN_IMAGE,
    "bash", "-c", "mkdir -p /app && tar -xzf /slug.tar.gz -C /app && cd /app && exec bin/hello start",
  ]);
  if (run.code !== 0) throw new Error(run.stderr);
  const inspect = ["docker", "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "--", name];
  const url = `http://${(await exec(inspect)).stdout.trim()}:4000`;
  for (let i = 0; i < 80; i++) {
    if ((await fetch(`${url}/health`).then((r) => r.status, () => 0)) === 200) return url;
    await Bun.sleep(250);
  }
  throw new Error(`the slug did not answer /health: ${(await exec(["docker", "logs", name])).stdout}`);
}

/** Copies a fixture so tests can edit it; the caller's tree is always a fresh checkout. */
function checkout(fixture: string): string {
  const dir = join(tempDir(`${fixture}-src`), fixture);
  cpSync(join(FIXTURES, fixture), dir, { recursive: true });
  return dir;
}

describe("the built-in Elixir buildpack", () => {
  const base = tempDir("elixir");
  const lines: string[][] = [];
  const hello: BuildOptions = {
    app: appName("hello"),
    sourceDir: join(FIXTURES, "hello"),
    cacheDir: join(base, "cache"),
    slugDir: join(base, "slugs"),
    env: {},
  };
  const timed = async (options: BuildOptions) => {
    const output: string[] = [];
    lines.push(output);
    const started = performance.now();
    const result = await build({ ...options, onOutput: (line) => output.push(line) });
    return { result, output, seconds: (performance.now() - started) / 1000 };
  };
  let slugPath = "";

  test("builds the hello fixture into a slug that is the release", async () => {
    const { result, output, seconds } = await timed(hello);
    console.log(`first build of hello (empty cache): ${seconds.toFixed(2)} s, slug ${(result.slug.bytes / 1024 ** 2).toFixed(2)} MiB`);
    expect(result.processTypes).toEqual({ web: "bin/hello start" });
    expect(result.buildpacks).toEqual(["builtin:elixir"]);
    expect(output).toContain("-----> Elixir app detected");
    expect(output).toContain("-----> No usable build cache: compiling from scratch");
    const app = await unpack(result.slug.path);
    expect(existsSync(join(app, "bin/hello"))).toBe(true);
    expect(existsSync(join(app, "releases/0.1.0/start.boot"))).toBe(true);
    expect(readdirSync(app).some((name) => name.startsWith("erts-"))).toBe(true);
    expect(readdirSync(join(app, "lib")).some((name) => name.startsWith("sasl-"))).toBe(true);
    expect(readdirSync(join(app, "lib")).some((name) => name.startsWith("runtime_tools-"))).toBe(true);
    expect(existsSync(join(app, "_build/prod/rel/hello/bin/hello"))).toBe(true); // the usual path still works
    expect(existsSync(join(app, "mix.exs"))).toBe(false);
    expect(existsSync(join(hello.cacheDir, "_build/prod/lib/hello/ebin/Elixir.Hello.Web.beam"))).toBe(true);
    slugPath = result.slug.path;
  }, LONG);

  test("a second build restores deps and _build from the cache", async () => {
    const { output, seconds } = await timed(hello);
    const first = lines[0] ?? [];
    console.log(`second build of hello (warm cache): ${seconds.toFixed(2)} s`);
    expect(output).toContain("-----> Restoring deps and _build from the cache");
    expect(first.some((line) => /Compiling \d+ files? \(\.ex\)/.test(line))).toBe(true);
    expect(output.some((line) => /Compiling \d+ files? \(\.ex\)/.test(line))).toBe(false);
  }, LONG);

  test("a clean build (cache wiped by the caller) works", async () => {
    rmSync(hello.cacheDir, { recursive: true, force: true });
    const { result, output, seconds } = await timed(hello);
    console.log(`clean build of hello: ${seconds.toFixed(2)} s`);
    expect(output).toContain("-----> No usable build cache: compiling from scratch");
    expect(result.processTypes.web).toBe("bin/hello start");
  }, LONG);

  test("releases/RELEASES is written for release_handler, naming the release permanent with /app paths", async () => {
    const app = await unpack(slugPath);
    const releases = readFileSync(join(app, "releases/RELEASES"), "utf8");
    expect(releases).toContain('[{release,"hello","0.1.0",');
    expect(releases).toContain('{hello,"0.1.0","/app/lib/hello-0.1.0"}');
    expect(releases).toContain('{sasl,"4.2","/app/lib/sasl-4.2"}');
    expect(releases.trimEnd()).toEndWith("permanent}].");
  }, LONG);

  test("with the running slug, a build makes appups, a relup and an upgrade package holding only what changed", async () => {
    const source = checkout("hello");
    writeFileSync(join(source, "mix.exs"), readFileSync(join(source, "mix.exs"), "utf8").replace('version: "0.1.0"', 'version: "0.2.0"'));
    const version = join(source, "lib/hello/version.ex");
    writeFileSync(version, readFileSync(version, "utf8").replace('"hello v1"', '"hello v2"'));
    const { result, output } = await timed({ ...hello, sourceDir: source, previousSlug: slugPath });
    expect(output).toContain("       hello 0.1.0 -> 0.2.0");
    expect(output).toContain("       hello 0.1.0 -> 0.2.0: 1 load_module, 0 update, 0 add_module, 0 delete_module");
    expect(result.upgrade).toMatchObject({ name: "hello", from: "0.1.0", to: "0.2.0" });
    const listing = (await exec(["tar", "-tzf", result.upgrade!.path])).stdout.split("\n");
    // Exact entry names: release_handler extracts releases/hello-0.2.0.rel by that name.
    expect(listing).toContain("releases/hello-0.2.0.rel");
    expect(listing).toContain("releases/0.2.0/relup");
    expect(listing).toContain("lib/hello-0.2.0/ebin/hello.appup");
    expect(listing).toContain("lib/hello-0.2.0/ebin/Elixir.Hello.Version.beam");
    expect(listing.some((name) => /^lib\/(kernel|stdlib|elixir|sasl)-/.test(name))).toBe(false);
    expect(listing.some((name) => name.includes("COOKIE") || name.endsWith("start_erl.data"))).toBe(false);
    const app = await unpack(result.slug.path);
    expect(readFileSync(join(app, "releases/start_erl.data"), "utf8")).toContain("0.2.0");

    // The same version again: no upgrade can be made, and the build says why.
    const again = await build({ ...hello, sourceDir: source, previousSlug: result.slug.path }).catch((err) => err);
    expect(again).toBeInstanceOf(BuildError);
    expect((again as BuildError).reason).toBe("hot");
    expect((again as BuildError).message).toContain("the version is still 0.2.0: a hot upgrade needs a new version in mix.exs");
  }, LONG);

  test("the slug runs on the run image: GET /, /env/NAME, /health", async () => {
    expect(slugPath).not.toBe("");
    const url = await serve(slugPath, { GREETING: "hello-from-env" });
    expect(await (await fetch(`${url}/`)).text()).toContain("hello v1");
    expect(await (await fetch(`${url}/env/GREETING`)).text()).toBe("hello-from-env");
    expect((await fetch(`${url}/env/NOT_SET_AT_ALL`)).status).toBe(404);
  }, LONG);

  test("elixir_buildpack.config and .tool-versions: hooks run, other versions warn and use the stack's", async () => {
    const source = checkout("hello");
    writeFileSync(join(source, ".tool-versions"), "erlang 26.2.1\nelixir 1.16.0-otp-26\n");
    writeFileSync(
      join(source, "elixir_buildpack.config"),
      'always_rebuild=true\nhook_pre_compile="echo pre-hook ran in $(pwd)"\nhook_post_compile="echo post-hook ran"\n',
    );
    writeFileSync(
      join(source, "lib/hello/version.ex"),
      readFileSync(join(source, "lib/hello/version.ex"), "utf8").replace("hello v1", "hello v2"),
    );
    const { result, output } = await timed({ ...hello, sourceDir: source });
    expect(output).toContain(" !     Erlang/OTP 26.2.1 was requested, but this stack has only 25.2.3: building with 25.2.3");
    expect(output).toContain(" !     Elixir 1.16.0-otp-26 was requested, but this stack has only 1.14.0: building with 1.14.0");
    expect(output).toContain("-----> always_rebuild=true: not restoring deps and _build");
    expect(output).toContain("       pre-hook ran in /app");
    expect(output).toContain("       post-hook ran");
    const url = await serve(result.slug.path, {});
    expect(await (await fetch(`${url}/`)).text()).toBe("hello v2\n");
  }, LONG);

  test("assets: npm installs assets/ and mix assets.deploy runs when the alias exists", async () => {
    const source = checkout("hello");
    mkdirSync(join(source, "assets"));
    writeFileSync(join(source, "assets/package.json"), '{"name":"assets","version":"1.0.0","private":true}\n');
    const mix = readFileSync(join(source, "mix.exs"), "utf8");
    writeFileSync(join(source, "mix.exs"), mix.replace("deps: [],", 'deps: [],\n      aliases: ["assets.deploy": ["cmd echo assets deployed"]],'));
    const { output } = await timed({ ...hello, sourceDir: source });
    expect(output).toContain("-----> Installing assets dependencies");
    expect(output).toContain("-----> Building assets (mix assets.deploy)");
    expect(output).toContain("       assets deployed");

    writeFileSync(join(source, "mix.exs"), mix);
    const plain = await timed({ ...hello, sourceDir: source });
    expect(plain.output).toContain("       No assets.deploy alias in mix.exs: skipping the assets build");
  }, LONG);

  test("the broken fixture fails with the compiler's message", async () => {
    const options = { ...hello, app: appName("broken"), sourceDir: join(FIXTURES, "broken"), cacheDir: join(base, "broken-cache") };
    let error: unknown;
    await build(options).catch((e: unknown) => (error = e));
    expect(error).toBeInstanceOf(BuildError);
    const failure = error as BuildError;
    expect(failure.reason).toBe("compile");
    expect(failure.message).toContain("failed to compile with builtin:elixir");
    expect(failure.message).toContain("undefined function this_function_does_not_exist/1");
  }, LONG);
});
