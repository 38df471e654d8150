import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exec, start } from "../lib/exec.ts";
import type { Logger } from "../lib/logger.ts";
import { EXTRA_PACKAGES, STACK_IMAGES, type StackKind } from "./images.ts";
import { forEachLine } from "../lib/lines.ts";
import { DEFAULT_MIRROR, RECIPE_LABEL, aptGetSteps, debootstrapArgv, importArgv, recipeHash, tarArgv } from "./spec.ts";

export interface StackBuildOptions {
  logger: Logger;
  /** Every line of debootstrap/docker output, live. */
  onOutput?: (line: string) => void;
  /** Image tag to produce; defaults to the stack image's name (tests build elsewhere). */
  tag?: string;
  mirror?: string;
  /** Where the root filesystem is assembled (removed afterwards); default the OS temp dir. */
  workDir?: string;
}

export interface StackBuildResult {
  tag: string;
  imageId: string;
  bytes: number;
  seconds: number;
}

/** debootstrap → slimmed tar → docker import. Throws with the last output lines on failure. */
export async function buildStackImage(kind: StackKind, options: StackBuildOptions): Promise<StackBuildResult> {
  return buildImage(stackRecipe(kind, options.tag), options);
}

export function stackRecipe(kind: StackKind, tag = STACK_IMAGES[kind]): ImageRecipe {
  return { kind, tag, packages: EXTRA_PACKAGES[kind] };
}

/** What an image built from Debian packages holds, beyond the run stack's minbase + packages. */
export interface ImageRecipe {
  /** The image's beamstalk.stack.kind label, and part of the work directory's name. */
  kind: string;
  tag: string;
  /** Installed with apt-get in a chroot after debootstrap. */
  packages: readonly string[];
  /** Called on the root filesystem before apt-get runs (e.g. config the packages' scripts read). */
  prepare?: (root: string) => void;
  /** Called on the root filesystem after apt-get, before it is imported. */
  finish?: (root: string) => void;
  /** Extra `docker import --change` lines (ENV, USER, EXPOSE…). */
  changes?: readonly string[];
}

/** The generic build every Beamstalk image shares: debootstrap, apt-get the recipe's packages, slimmed tar, docker import. */
export async function buildImage(recipe: ImageRecipe, options: Omit<StackBuildOptions, "tag">): Promise<StackBuildResult> {
  const { kind, tag } = recipe;
  const output = options.onOutput ?? (() => {});
  const tail: string[] = [];
  const onLine = (line: string) => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
    output(line);
  };
  const started = Date.now();
  const root = mkdtempSync(join(options.workDir ?? tmpdir(), `beamstalk-stack-${kind}-`));
  options.logger.info("stack.build.start", { kind, tag });
  try {
    onLine(`-----> debootstrap ${kind} image (${tag})`);
    await run(debootstrapArgv(root, options.mirror ?? DEFAULT_MIRROR), onLine, tail, "debootstrap");
    recipe.prepare?.(root);
    for (const argv of aptGetSteps(recipe.packages, root)) {
      onLine(`-----> ${argv.slice(4).join(" ")}`);
      await run(argv, onLine, tail, "apt-get in the stack root");
    }
    recipe.finish?.(root);
    onLine(`-----> importing ${tag}`);
    await importRoot(importArgv(kind, tag, recipe.changes, recipeHash(recipe)), root, onLine, tail);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const inspect = await exec(["docker", "image", "inspect", "--format", "{{.Id}} {{.Size}}", "--", tag]);
  if (inspect.code !== 0) throw new Error(`stack image ${tag} missing after import: ${inspect.stderr.trim()}`);
  const [imageId = "", size = "0"] = inspect.stdout.trim().split(" ");
  const result = { tag, imageId, bytes: Number(size), seconds: (Date.now() - started) / 1000 };
  options.logger.info("stack.build.done", { kind, tag, bytes: result.bytes, seconds: result.seconds });
  onLine(`-----> built ${tag} (${(result.bytes / 1e6).toFixed(0)} MB) in ${result.seconds.toFixed(1)} s`);
  return result;
}

export interface EnsureStackOptions extends Omit<StackBuildOptions, "tag"> {
  /** Which images to check; default both. */
  kinds?: StackKind[];
  /** Tags to use instead of the standard names (tests). */
  images?: Partial<Record<StackKind, string>>;
}

/** Builds whichever stack image is missing or was built from another recipe, and says so. Returns what it built. */
export async function ensureStackImages(options: EnsureStackOptions): Promise<StackBuildResult[]> {
  const built: StackBuildResult[] = [];
  for (const kind of options.kinds ?? (["run", "build"] as StackKind[])) {
    const recipe = stackRecipe(kind, options.images?.[kind]);
    const { tag } = recipe;
    const have = await imageRecipe(tag);
    const want = recipeHash(recipe);
    if (have === want) continue;
    if (have === null) {
      options.logger.warn("stack.image.missing", { tag, action: "building" });
      options.onOutput?.(`-----> Stack image ${tag} is missing; building it (takes a few minutes)`);
    } else {
      options.logger.warn("stack.image.outdated", { tag, recipe: have || "none", wanted: want, action: "rebuilding" });
      options.onOutput?.(`-----> Stack image ${tag} was built from another recipe (${have || "unlabelled"}, now ${want}); rebuilding it (takes a few minutes)`);
    }
    built.push(await buildImage(recipe, options));
  }
  return built;
}

/** True when the stack image exists and was built from today's recipe. */
export async function stackImageCurrent(kind: StackKind, tag?: string): Promise<boolean> {
  const recipe = stackRecipe(kind, tag);
  return (await imageRecipe(recipe.tag)) === recipeHash(recipe);
}

export async function imageExists(tag: string): Promise<boolean> {
  return (await exec(["docker", "image", "inspect", "--format", "{{.Id}}", "--", tag])).code === 0;
}

/** The image's recipe label: null when there is no such image, "" when it has no label (built before labels). */
export async function imageRecipe(tag: string): Promise<string | null> {
  const inspect = await exec(["docker", "image", "inspect", "--format", `{{index .Config.Labels "${RECIPE_LABEL}"}}`, "--", tag]);
  if (inspect.code !== 0) return null;
  const value = inspect.stdout.trim();
  return value === "<no value>" ? "" : value;
}

async function run(argv: string[], onLine: (line: string) => void, tail: string[], what: string): Promise<void> {
  const proc = start(argv, { stdout: "pipe", stderr: "pipe" });
  await Promise.all([forEachLine(proc.stdout, onLine), forEachLine(proc.stderr, onLine)]);
  const code = await proc.exited;
  if (code !== 0) throw new Error(`${what} failed (exit ${code}):\n${tail.join("\n")}`);
}

async function importRoot(importCommand: string[], root: string, onLine: (line: string) => void, tail: string[]) {
  const tar = start(tarArgv(root), { stdout: "pipe", stderr: "pipe" });
  const docker = start(importCommand, { stdin: tar.stdout, stdout: "pipe", stderr: "pipe" });
  await Promise.all([
    forEachLine(tar.stderr, onLine),
    forEachLine(docker.stdout, onLine),
    forEachLine(docker.stderr, onLine),
  ]);
  const [tarCode, dockerCode] = await Promise.all([tar.exited, docker.exited]);
  if (tarCode !== 0) throw new Error(`tar of the stack root failed (exit ${tarCode}):\n${tail.join("\n")}`);
  if (dockerCode !== 0) throw new Error(`docker import failed (exit ${dockerCode}):\n${tail.join("\n")}`);
}
