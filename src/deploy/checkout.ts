import { lstatSync, mkdirSync, readdirSync, readlinkSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { start } from "../lib/exec.ts";
import { fetchSubmodules } from "./submodules.ts";

export class CheckoutError extends Error {
  override name = "CheckoutError";
}

export interface CheckoutOptions {
  repoPath: string;
  sha: string;
  dest: string;
  /** Object directories of a push still in quarantine (from the pre-receive hook). */
  gitEnv?: Record<string, string | undefined>;
  maxBytes?: number;
  /** Let .gitmodules name file:// URLs (tests only: on a server they would read the host's disk). */
  allowFileSubmodules?: boolean;
  out?: (line: string) => void;
}

/**
 * Writes the tree of one commit into dest with `git archive | tar -x`: two
 * processes joined by a pipe, no shell. git never archives `..` or absolute
 * paths (fsck refuses such trees); symlinks that point outside the tree are
 * refused, so nothing later reads a host file through them.
 */
export async function checkout(options: CheckoutOptions): Promise<void> {
  if (!/^[0-9a-f]{40}$/.test(options.sha)) throw new CheckoutError(`not a commit id: ${options.sha}`);
  const unpack = (repo: string, sha: string, dest: string, env: Record<string, string | undefined>) =>
    archiveInto({ repo, sha, dest, env: { ...cleanGitEnv(), ...env }, maxBytes: options.maxBytes ?? 1024 ** 3 });
  await unpack(options.repoPath, options.sha, options.dest, options.gitEnv ?? {});
  try {
    await fetchSubmodules({
      repo: options.repoPath,
      sha: options.sha,
      dest: options.dest,
      ...(options.gitEnv ? { gitEnv: options.gitEnv } : {}),
      ...(options.allowFileSubmodules ? { allowFileUrls: true } : {}),
      ...(options.out ? { out: options.out } : {}),
      unpack,
    });
  } catch (err) {
    throw new CheckoutError((err as Error).message);
  }
  checkSymlinks(options.dest);
}

async function archiveInto(options: { repo: string; sha: string; dest: string; env: Record<string, string | undefined>; maxBytes: number }): Promise<void> {
  mkdirSync(options.dest, { recursive: true });
  const git = start(["git", "-C", options.repo, "archive", "--format=tar", options.sha], { env: options.env, cleanEnv: true });
  const limit = options.maxBytes;
  let bytes = 0;
  const counted = (git.stdout as ReadableStream<Uint8Array>).pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        bytes += chunk.length;
        if (bytes > limit) controller.error(new CheckoutError(`the pushed tree is larger than ${Math.round(limit / 1048576)} MiB`));
        else controller.enqueue(chunk);
      },
    }),
  );
  const tar = start(["tar", "-x", "--no-same-owner", "--no-same-permissions", "-C", options.dest], { stdin: counted, env: cleanGitEnv(), cleanEnv: true });
  const [gitCode, tarCode, gitErr, tarErr] = await Promise.all([
    git.exited,
    tar.exited,
    new Response(git.stderr as ReadableStream).text(),
    new Response(tar.stderr as ReadableStream).text(),
  ]);
  if (bytes > limit) throw new CheckoutError(`the pushed tree is larger than ${Math.round(limit / 1048576)} MiB`);
  if (gitCode !== 0) throw new CheckoutError(`git archive failed: ${gitErr.trim()}`);
  if (tarCode !== 0) throw new CheckoutError(`unpacking the source failed: ${tarErr.trim()}`);
}

/** Refuses any symlink whose target resolves outside root. */
export function checkSymlinks(root: string): void {
  const base = resolve(root);
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const stat = lstatSync(path);
      if (stat.isSymbolicLink()) {
        const target = resolve(dirname(path), readlinkSync(path));
        if (target !== base && !target.startsWith(base + sep)) {
          throw new CheckoutError(`symlink ${relative(base, path)} points outside the app (${readlinkSync(path)})`);
        }
      } else if (stat.isDirectory()) {
        walk(path);
      }
    }
  };
  walk(base);
}

/** PATH and HOME only: nothing of the daemon's environment leaks into git or tar. */
function cleanGitEnv(): Record<string, string | undefined> {
  return { PATH: process.env.PATH, HOME: process.env.HOME, LANG: "C" };
}
