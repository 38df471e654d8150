import { existsSync, readFileSync, realpathSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { exec } from "../lib/exec.ts";
import { BUILTIN_ELIXIR, writeBuiltinElixir } from "./builtin.ts";
import { BuildError } from "./types.ts";

/** Where a buildpack comes from. */
export type BuildpackSource =
  | { kind: "builtin"; name: string }
  | { kind: "git"; name: string; url: string; ref: string | null }
  | { kind: "path"; name: string; path: string };

export interface BuildpackPlan {
  /** "explicit": every buildpack runs, a failing detect is an error. "detect": the first that detects runs. */
  mode: "explicit" | "detect";
  sources: BuildpackSource[];
}

const GIT_URL = /^(https?|git|ssh|file):\/\/\S+$|^[\w.-]+@[\w.-]+:\S+$/;

/** `.buildpacks`: one buildpack a line; blank lines and `#` comment lines ignored. */
export function parseBuildpacksFile(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}

/**
 * Classifies one entry. `trusted` entries (from the caller) may be absolute
 * host paths; entries from the app's `.buildpacks` must stay inside the source.
 */
export function classifyBuildpack(entry: string, options: { sourceDir: string; trusted: boolean; allowFileGitUrls: boolean }): BuildpackSource {
  if (entry === BUILTIN_ELIXIR) return { kind: "builtin", name: entry };
  if (GIT_URL.test(entry)) {
    const hash = entry.lastIndexOf("#");
    const url = hash > 0 ? entry.slice(0, hash) : entry;
    const ref = hash > 0 ? entry.slice(hash + 1) : null;
    if (ref !== null && !/^[\w./-]+$/.test(ref)) throw new BuildError("buildpack", `buildpack ${entry}: bad ref "${ref}"`);
    if (url.startsWith("file://") && !options.allowFileGitUrls && !options.trusted) {
      throw new BuildError("buildpack", `buildpack ${entry}: file:// URLs are not allowed in .buildpacks`);
    }
    return { kind: "git", name: entry, url, ref };
  }
  if (isAbsolute(entry) && !options.trusted) {
    throw new BuildError("buildpack", `buildpack ${entry}: paths in .buildpacks must be relative to the app`);
  }
  const path = resolve(options.sourceDir, entry);
  if (!existsSync(path)) throw new BuildError("buildpack", `buildpack ${entry}: no such directory`);
  if (!options.trusted) {
    const inside = relative(realpathSync(options.sourceDir), realpathSync(path));
    if (inside.startsWith("..") || isAbsolute(inside)) {
      throw new BuildError("buildpack", `buildpack ${entry}: path leaves the app's source tree`);
    }
  }
  return { kind: "path", name: entry, path };
}

/** The buildpacks a build uses: the caller's list, else `.buildpacks`, else the built-in one. */
export function planBuildpacks(options: { sourceDir: string; buildpacks?: string[]; allowFileGitUrls?: boolean }): BuildpackPlan {
  const allowFileGitUrls = options.allowFileGitUrls ?? false;
  if (options.buildpacks && options.buildpacks.length > 0) {
    const sources = options.buildpacks.map((entry) =>
      classifyBuildpack(entry, { sourceDir: options.sourceDir, trusted: true, allowFileGitUrls }),
    );
    return { mode: "explicit", sources };
  }
  const file = join(options.sourceDir, ".buildpacks");
  if (existsSync(file)) {
    const entries = parseBuildpacksFile(readFileSync(file, "utf8"));
    if (entries.length === 0) throw new BuildError("buildpack", ".buildpacks lists no buildpack");
    const sources = entries.map((entry) =>
      classifyBuildpack(entry, { sourceDir: options.sourceDir, trusted: false, allowFileGitUrls }),
    );
    return { mode: "explicit", sources };
  }
  return { mode: "detect", sources: [{ kind: "builtin", name: BUILTIN_ELIXIR }] };
}

export function gitCloneArgv(url: string, ref: string | null, dir: string): string[] {
  return ["git", "clone", "--quiet", "--depth", "1", ...(ref ? ["--branch", ref] : []), "--", url, dir];
}

/** Puts each buildpack in a host directory (clone, built-in) and returns the directories in order. */
export async function fetchBuildpacks(
  sources: BuildpackSource[],
  workDir: string,
  onOutput: (line: string) => void,
): Promise<string[]> {
  const dirs: string[] = [];
  for (const [index, source] of sources.entries()) {
    if (source.kind === "path") {
      dirs.push(source.path);
    } else if (source.kind === "builtin") {
      dirs.push(writeBuiltinElixir(join(workDir, `builtin-${index}`)));
    } else {
      const dir = join(workDir, `git-${index}`);
      onOutput(`-----> Fetching buildpack ${source.name}`);
      const result = await exec(gitCloneArgv(source.url, source.ref, dir), {
        timeoutMs: 120_000,
        env: { GIT_TERMINAL_PROMPT: "0" },
      });
      if (result.code !== 0) {
        throw new BuildError("buildpack", `could not clone buildpack ${source.name}`, result.stderr.trim().split("\n").slice(-5));
      }
      dirs.push(dir);
    }
  }
  return dirs;
}
