import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exec } from "../lib/exec.ts";
import { checkAppName } from "../lib/validate.ts";

export interface RepoOptions {
  reposDir: string;
  /** argv of the pre-receive hook, e.g. `[process.execPath, "hook", "pre-receive"]`. */
  hookCommand: readonly string[];
  /** git refuses a push whose pack is larger (receive.maxInputSize); default 1 GiB. */
  maxPushBytes?: number;
}

export const DEFAULT_MAX_PUSH_BYTES = 1024 ** 3;

/** `<reposDir>/<app>.git`; the name is checked so no path can leave reposDir. */
export function repoPath(reposDir: string, app: string): string {
  return join(reposDir, `${checkAppName(app)}.git`);
}

const CONFIG: [string, string][] = [
  ["receive.fsckObjects", "true"],
  ["receive.advertisePushOptions", "true"],
  ["http.receivepack", "true"],
  ["core.logAllRefUpdates", "true"],
];

/**
 * Creates the bare repository of an app the caller knows exists (never call it
 * for an unknown app), and keeps its hook pointing at hookCommand. Idempotent. Returns the repository path.
 */
export async function ensureRepo(options: RepoOptions, app: string): Promise<string> {
  const path = repoPath(options.reposDir, app);
  mkdirSync(options.reposDir, { recursive: true, mode: 0o700 });
  if (!existsSync(join(path, "HEAD"))) {
    await git(["git", "init", "--quiet", "--bare", "--initial-branch=main", "--", path]);
    for (const [key, value] of CONFIG) {
      await git(["git", "--git-dir", path, "config", "--", key, value]);
    }
  }
  await git(["git", "--git-dir", path, "config", "--", "receive.maxInputSize", String(options.maxPushBytes ?? DEFAULT_MAX_PUSH_BYTES)]);
  writeHook(path, options.hookCommand);
  return path;
}

export function removeRepo(reposDir: string, app: string): void {
  rmSync(repoPath(reposDir, app), { recursive: true, force: true });
}

export function repoExists(reposDir: string, app: string): boolean {
  return existsSync(join(repoPath(reposDir, app), "HEAD"));
}

/** `'it'\''s'`: safe for any byte string in a POSIX shell. */
export function shellQuote(arg: string): string {
  if (arg.includes("\0")) throw new Error("argument contains a NUL byte");
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

export function hookScript(hookCommand: readonly string[]): string {
  if (hookCommand.length === 0) throw new Error("hookCommand is empty");
  return `#!/bin/sh\n# Written by beamstalk: hands the push to the daemon.\nexec ${hookCommand.map(shellQuote).join(" ")} "$@"\n`;
}

function writeHook(path: string, hookCommand: readonly string[]): void {
  const hooks = join(path, "hooks");
  mkdirSync(hooks, { recursive: true });
  const target = join(hooks, "pre-receive");
  const script = hookScript(hookCommand);
  if (existsSync(target) && readFileSync(target, "utf8") === script) return;
  const tmp = `${target}.tmp-${process.pid}`;
  writeFileSync(tmp, script, { mode: 0o755 });
  renameSync(tmp, target);
}

async function git(argv: string[]): Promise<void> {
  const res = await exec(argv, { timeoutMs: 30_000 });
  if (res.code !== 0) throw new Error(`${argv.slice(0, 3).join(" ")} failed: ${res.stderr.trim()}`);
}
