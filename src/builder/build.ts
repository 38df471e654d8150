import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exec } from "../lib/exec.ts";
import { isAppName, isReleaseName, isReleaseVersion } from "../lib/validate.ts";
import { BUILD_IMAGE } from "../stack/images.ts";
import { writeDriver, writeRelupScript } from "./builtin.ts";
import { fetchBuildpacks, planBuildpacks } from "./buildpacks.ts";
import { CONTAINER_PATHS, removeContainer, runBuildContainer, type BuildContainerSpec } from "./container.ts";
import { redactor, writeEnvDir } from "./env-dir.ts";
import { emptyManifest } from "../lib/app-manifest.ts";
import { type AppJson, AppJsonError, readAppJson } from "./app-json.ts";
import { mergeProcessTypes, parseProcfile, parseReleaseYaml } from "./process-types.ts";
import { storeSlug } from "./slug.ts";
import { BuildError, type BuildFailure, type BuildOptions, type BuildResult, type UpgradePackage } from "./types.ts";

export const DEFAULT_MAX_SLUG_BYTES = 1024 ** 3;
export const DEFAULT_BUILD_TIMEOUT_MS = 30 * 60_000;
export const DEFAULT_BUILD_MEMORY_BYTES = 2 * 1024 ** 3;
const TAIL_LINES = 30;

/** driver.sh's exit codes. */
const DRIVER_FAILURES: Record<number, BuildFailure> = { 10: "detect", 11: "detect", 12: "compile", 13: "release", 14: "slug", 15: "hot" };

/**
 * Builds a slug from a source tree with Heroku-style buildpacks, inside one
 * throw-away container from the build image. Throws BuildError when no slug
 * comes out; nothing is left behind but the cache (and the slug on success).
 */
export async function build(options: BuildOptions): Promise<BuildResult> {
  if (!isAppName(options.app)) throw new BuildError("setup", `invalid app name ${JSON.stringify(options.app)}`);
  const redact = redactor(options.env);
  const tail: string[] = [];
  const say = (line: string) => {
    const safe = redact(line);
    tail.push(safe);
    if (tail.length > TAIL_LINES) tail.shift();
    options.onOutput?.(safe);
  };
  const image = options.image ?? BUILD_IMAGE;
  const maxSlugBytes = options.maxSlugBytes ?? DEFAULT_MAX_SLUG_BYTES;
  const timeoutMs = options.timeoutMs ?? DEFAULT_BUILD_TIMEOUT_MS;
  mkdirSync(options.slugDir, { recursive: true });
  mkdirSync(options.cacheDir, { recursive: true });
  const work = mkdtempSync(join(options.workDir ?? tmpdir(), `beamstalk-build-${options.app}-`));
  const outDir = mkdtempSync(join(options.slugDir, ".building-")); // same filesystem as the slugs
  const container = `beamstalk-build-${options.app}-${crypto.randomUUID().slice(0, 8)}`;
  const started = Date.now();
  try {
    if (options.signal?.aborted) throw new BuildError("cancelled", "build cancelled before it started");
    if ((await exec(["docker", "image", "inspect", "--format", "{{.Id}}", "--", image])).code !== 0) {
      throw new BuildError("setup", `build image ${image} is missing`, ["build it with ensureStackImages() (src/stack)"]);
    }
    say(`-----> Building ${options.app}`);
    const appDir = join(work, "app");
    mkdirSync(appDir);
    const copy = await exec(["cp", "-a", "--", `${options.sourceDir}/.`, appDir]);
    if (copy.code !== 0) throw new BuildError("setup", `could not copy the source: ${copy.stderr.trim()}`);
    const { manifest, warnings } = readManifest(appDir);
    for (const warning of warnings) say(`-----> Warning: ${warning}`);

    const plan = planBuildpacks(options);
    const dirs = await fetchBuildpacks(plan.sources, work, say);
    const meta = join(work, "meta");
    mkdirSync(meta);
    writeDriver(meta);
    if (options.previousSlug) writeRelupScript(meta);
    writeFileSync(join(meta, "mode"), plan.mode + "\n");
    writeFileSync(join(meta, "buildpacks"), plan.sources.map((s) => s.name.replace(/[\r\n]/g, " ") + "\n").join(""));
    const envDir = join(work, "env");
    writeEnvDir(envDir, options.env);

    const spec: BuildContainerSpec = {
      name: container,
      image,
      app: options.app,
      memoryBytes: options.memoryBytes ?? DEFAULT_BUILD_MEMORY_BYTES,
      maxSlugBytes,
      mounts: [
        { source: appDir, target: CONTAINER_PATHS.build, readOnly: false },
        { source: options.cacheDir, target: CONTAINER_PATHS.cache, readOnly: false },
        { source: envDir, target: CONTAINER_PATHS.env, readOnly: true },
        { source: meta, target: CONTAINER_PATHS.meta, readOnly: true },
        ...dirs.map((dir, i) => ({ source: dir, target: `${CONTAINER_PATHS.buildpacks}/${i}`, readOnly: true })),
        { source: outDir, target: CONTAINER_PATHS.out, readOnly: false },
        ...(options.previousSlug ? [{ source: options.previousSlug, target: CONTAINER_PATHS.previous, readOnly: true }] : []),
      ],
    };
    const run = await runBuildContainer(spec, { timeoutMs, signal: options.signal, onLine: say });
    if (run.stopped === "timeout") {
      throw new BuildError("timeout", `build timed out after ${Math.round(timeoutMs / 1000)} s; the build container was stopped`, [...tail]);
    }
    if (run.stopped === "cancelled") throw new BuildError("cancelled", "build cancelled; the build container was stopped", [...tail]);
    if (run.code !== 0) throw driverFailure(run.code, outDir, maxSlugBytes, [...tail]);

    const applied = readLines(join(outDir, "applied")).map(Number);
    const defaults = applied.map((i) => {
      const file = join(outDir, `release-${i}.yml`);
      return existsSync(file) ? parseReleaseYaml(readFileSync(file, "utf8")) : {};
    });
    const procfile = join(appDir, "Procfile");
    const processTypes = mergeProcessTypes(defaults, existsSync(procfile) ? parseProcfile(readFileSync(procfile, "utf8")) : null);
    // Procfile `release:` is the release phase (run once per release), never a process type with replicas.
    if (processTypes.release !== undefined) {
      manifest.releasePhase.push({ source: "Procfile release", command: processTypes.release });
      delete processTypes.release;
    }
    const slug = await storeSlug(join(outDir, "slug.tar.gz"), options.slugDir);
    const upgrade = options.previousSlug ? keepUpgrade(outDir, options.slugDir, slug.sha256) : undefined;
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    say(`-----> Process types: ${Object.keys(processTypes).join(", ") || "(none)"}`);
    for (const step of manifest.releasePhase) say(`-----> Release phase from ${step.source} (runs before each release starts)`);
    if (manifest.cron.length > 0) say(`-----> Cron: ${manifest.cron.map((e) => `${e.id} "${e.schedule}"`).join(", ")}`);
    say(`-----> Slug ${slug.sha256.slice(0, 12)}: ${(slug.bytes / 1024 ** 2).toFixed(1)} MiB, built in ${seconds} s`);
    return { slug, processTypes, manifest, buildpacks: applied.map((i) => plan.sources[i]?.name ?? String(i)), ...(upgrade ? { upgrade } : {}) };
  } finally {
    await removeContainer(container);
    rmSync(work, { recursive: true, force: true });
    rmSync(outDir, { recursive: true, force: true });
  }
}

/** app.json at the source root, when there is one; a malformed one fails the build before anything runs. */
function readManifest(appDir: string): AppJson {
  const file = join(appDir, "app.json");
  if (!existsSync(file)) return { manifest: emptyManifest(), warnings: [] };
  try {
    return readAppJson(readFileSync(file, "utf8"));
  } catch (err) {
    if (err instanceof AppJsonError) throw new BuildError("app_json", err.message);
    throw err;
  }
}

function driverFailure(code: number, outDir: string, maxSlugBytes: number, tail: string[]): BuildError {
  const errorFile = join(outDir, "error");
  const message = existsSync(errorFile) ? readFileSync(errorFile, "utf8").trim() : `build failed (exit ${code})`;
  if (code === 14 && message.startsWith("Slug is larger")) {
    return new BuildError("slug_too_large", `slug is over the cap of ${maxSlugBytes} bytes`, tail);
  }
  if (code === 137) return new BuildError("compile", "build container was killed (out of memory?)", tail);
  return new BuildError(DRIVER_FAILURES[code] ?? "compile", message, tail);
}

/** Moves the driver's upgrade package next to the slug and reads what it upgrades. */
function keepUpgrade(outDir: string, slugDir: string, sha256: string): UpgradePackage {
  const [name, from, to] = readFileSync(join(outDir, "hot"), "utf8").trim().split(" ");
  if (!name || !from || !to) throw new BuildError("hot", "the build made no upgrade package");
  if (!isReleaseName(name) || !isReleaseVersion(from) || !isReleaseVersion(to)) {
    throw new BuildError("hot", `hot upgrades need a plain release name and versions (got ${JSON.stringify(`${name} ${from} ${to}`)})`);
  }
  const path = join(slugDir, `${sha256}.upgrade.tar.gz`);
  renameSync(join(outDir, "upgrade.tar.gz"), path);
  return { path, name, from, to };
}

function readLines(path: string): string[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8").split("\n").filter((line) => line !== "");
}
