import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exec } from "../../src/lib/exec.ts";

/** Temp dirs made by these tests; removed by cleanup(). */
const made: string[] = [];

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `bsbt-${prefix}-`));
  made.push(dir);
  return dir;
}

export function cleanup(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A unique app name for one test (containers get `beamstalk-build-<app>-…`). */
export function appName(label: string): string {
  return `bsbt-${label}-${crypto.randomUUID().slice(0, 6)}`;
}

/** Writes a small bash buildpack; each script body gets a bash shebang. */
export function writeBuildpack(dir: string, scripts: { detect?: string; compile: string; release?: string }): string {
  mkdirSync(join(dir, "bin"), { recursive: true });
  for (const [name, body] of Object.entries(scripts)) {
    if (body === undefined) continue;
    const path = join(dir, "bin", name);
    writeFileSync(path, `#!/usr/bin/env bash\n${body}\n`);
    chmodSync(path, 0o755);
  }
  return dir;
}

export function writeFiles(dir: string, files: Record<string, string>): string {
  for (const [name, text] of Object.entries(files)) {
    const path = join(dir, name);
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, text);
  }
  return dir;
}

/** Unpacks a slug into a fresh temp dir and returns it. */
export async function unpack(slugPath: string): Promise<string> {
  const dir = tempDir("unpacked");
  const result = await exec(["tar", "-xzf", slugPath, "-C", dir]);
  if (result.code !== 0) throw new Error(result.stderr);
  return dir;
}

export function slugFiles(slugDir: string): string[] {
  try {
    return readdirSync(slugDir);
  } catch {
    return [];
  }
}

export async function containersNamed(prefix: string): Promise<string[]> {
  const result = await exec(["docker", "ps", "-a", "--filter", `name=${prefix}`, "--format", "{{.Names}}"]);
  return result.stdout.split("\n").filter((line) => line !== "");
}

/** Makes a git repository holding a buildpack; returns its file:// URL. */
export async function gitBuildpack(dir: string, compile: string, branch?: string): Promise<string> {
  writeBuildpack(dir, { compile });
  const git = (...args: string[]) => exec(["git", "-C", dir, "-c", "user.email=t@example.com", "-c", "user.name=t", ...args]);
  await git("init", "--quiet", "--initial-branch=main");
  await git("add", "-A");
  await git("commit", "--quiet", "-m", "buildpack");
  if (branch) {
    await git("checkout", "--quiet", "-b", branch);
    writeBuildpack(dir, { compile: `${compile}\necho "on ${branch}" >>"$1/branch.txt"` });
    await git("commit", "--quiet", "-am", branch);
    await git("checkout", "--quiet", "main");
  }
  return `file://${dir}`;
}
