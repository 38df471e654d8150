import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { join, normalize, sep } from "node:path";
import { tmpdir } from "node:os";
import { exec } from "../lib/exec.ts";

export class SubmoduleError extends Error {
  override name = "SubmoduleError";
}

export interface Submodule {
  path: string;
  url: string;
  commit: string;
}

/** Transports a pushed .gitmodules may make the daemon fetch from. file:// would read the host's disk. */
const REMOTE_PROTOCOLS = "https:http:ssh:git";

/** The gitlinks of a commit, with their URLs from its .gitmodules. */
export async function listSubmodules(repo: string, sha: string, env: Record<string, string | undefined>, sourceDir: string): Promise<Submodule[]> {
  const tree = await exec(["git", "-C", repo, "ls-tree", "-r", "-z", sha], { env });
  if (tree.code !== 0) throw new SubmoduleError(`cannot list the tree of ${sha.slice(0, 7)}: ${tree.stderr.trim()}`);
  const links = tree.stdout
    .split("\0")
    .filter((entry) => entry.startsWith("160000 commit "))
    .map((entry) => {
      const [meta, path] = entry.split("\t", 2) as [string, string];
      return { path, commit: meta.split(" ")[2]! };
    });
  if (links.length === 0) return [];
  const gitmodules = join(sourceDir, ".gitmodules");
  if (!existsSync(gitmodules)) throw new SubmoduleError("the tree has submodules but no .gitmodules");
  const config = await exec(["git", "config", "--file", gitmodules, "--get-regexp", "^submodule\\..*\\.(path|url)$"]);
  const byName = new Map<string, { path?: string; url?: string }>();
  for (const line of config.stdout.split("\n").filter(Boolean)) {
    const match = /^submodule\.(.+)\.(path|url) (.*)$/.exec(line);
    if (!match) continue;
    const entry = byName.get(match[1]!) ?? {};
    entry[match[2] as "path" | "url"] = match[3]!;
    byName.set(match[1]!, entry);
  }
  return links.map(({ path, commit }) => {
    const url = [...byName.values()].find((e) => e.path === path)?.url;
    if (!url) throw new SubmoduleError(`submodule ${path} has no url in .gitmodules`);
    return { path, url, commit };
  });
}

/**
 * Fills each submodule's directory with its commit's tree: clone (only over
 * network transports, unless allowFileUrls), then the same archive-and-unpack
 * as the app itself, recursing into nested submodules.
 */
export async function fetchSubmodules(options: {
  repo: string;
  sha: string;
  dest: string;
  gitEnv?: Record<string, string | undefined>;
  allowFileUrls?: boolean;
  unpack: (repo: string, sha: string, dest: string, env: Record<string, string | undefined>) => Promise<void>;
  out?: (line: string) => void;
  depth?: number;
}): Promise<void> {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, GIT_TERMINAL_PROMPT: "0", ...options.gitEnv };
  const submodules = await listSubmodules(options.repo, options.sha, env, options.dest);
  if (submodules.length > 0 && (options.depth ?? 0) >= 3) throw new SubmoduleError("submodules nest deeper than 3 levels");
  for (const sub of submodules) {
    const target = normalize(join(options.dest, sub.path));
    if (!target.startsWith(normalize(options.dest) + sep)) throw new SubmoduleError(`submodule path ${sub.path} leaves the app`);
    if (/^(\.\.?\/|\/)/.test(sub.url) || sub.url.startsWith("-")) {
      throw new SubmoduleError(`submodule ${sub.path}: relative or local URL ${sub.url} is not supported; use an https:// or ssh:// URL`);
    }
    options.out?.(`-----> Fetching submodule ${sub.path} (${sub.commit.slice(0, 7)})`);
    const clone = mkdtempSync(join(tmpdir(), "beamstalk-submodule-"));
    try {
      const protocols = options.allowFileUrls ? `${REMOTE_PROTOCOLS}:file` : REMOTE_PROTOCOLS;
      const cloneEnv = { PATH: process.env.PATH, HOME: process.env.HOME, GIT_TERMINAL_PROMPT: "0", GIT_ALLOW_PROTOCOL: protocols };
      const res = await exec(["git", "clone", "--quiet", "--bare", "--", sub.url, clone], { env: cloneEnv, timeoutMs: 300_000 });
      if (res.code !== 0) throw new SubmoduleError(`cannot fetch submodule ${sub.path} from ${sub.url}: ${res.stderr.trim().split("\n").at(-1)}`);
      await options.unpack(clone, sub.commit, target, cloneEnv);
      await fetchSubmodules({ ...options, repo: clone, sha: sub.commit, dest: target, gitEnv: {}, depth: (options.depth ?? 0) + 1 });
    } finally {
      rmSync(clone, { recursive: true, force: true });
    }
  }
}
