import { exec } from "../lib/exec.ts";
import { isAppName } from "../lib/validate.ts";

export const REMOTE = "beamstalk";

export async function insideGitRepo(cwd = process.cwd()): Promise<boolean> {
  const res = await exec(["git", "rev-parse", "--is-inside-work-tree"], { cwd });
  return res.code === 0 && res.stdout.trim() === "true";
}

/** The app named by the `beamstalk` remote of the repository in cwd, if any. */
export async function appFromRemote(cwd = process.cwd()): Promise<string | null> {
  const res = await exec(["git", "remote", "get-url", REMOTE], { cwd });
  if (res.code !== 0) return null;
  const match = /\/([^/]+?)(?:\.git)?\/?$/.exec(res.stdout.trim());
  return match && isAppName(match[1]) ? match[1] : null;
}

/** Adds the remote, or points an existing one at the new URL. Returns what it did. */
export async function setRemote(url: string, cwd = process.cwd()): Promise<"added" | "updated"> {
  const existing = await exec(["git", "remote", "get-url", REMOTE], { cwd });
  const argv = existing.code === 0 ? ["git", "remote", "set-url", REMOTE, url] : ["git", "remote", "add", REMOTE, url];
  const res = await exec(argv, { cwd });
  if (res.code !== 0) throw new Error(`git remote failed: ${res.stderr.trim()}`);
  return existing.code === 0 ? "updated" : "added";
}

export function gitUrl(serverUrl: string, app: string): string {
  return `${serverUrl.replace(/\/+$/, "")}/${app}.git`;
}
