import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exec } from "../lib/exec.ts";
import { ensureRepo, hookScript, removeRepo, repoExists, shellQuote } from "./repos.ts";

const root = mkdtempSync(join(tmpdir(), "beamstalk-repos-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

test("shellQuote survives any argument through sh", async () => {
  const args = ["plain", "it's", "a b", "$(id)", "`id`", "\\n", "'", "''", "-e", "x;y|z&", "\n", "ünï"];
  const script = join(root, "echo.sh");
  await Bun.write(script, `${hookScript(["/usr/bin/printf", "%s\\0", ...args])}`);
  const res = await exec(["sh", script, "extra arg"]);
  expect(res.code).toBe(0);
  expect(res.stdout.split("\0").slice(0, -1)).toEqual([...args, "extra arg"]);
  expect(shellQuote("a'b")).toBe(`'a'\\''b'`);
  expect(() => shellQuote("a\0b")).toThrow();
});

test("ensureRepo creates a configured bare repo with the hook; removeRepo deletes it", async () => {
  const reposDir = join(root, "repos");
  const path = await ensureRepo({ reposDir, hookCommand: ["/opt/beamstalk dir/beamstalk", "hook", "pre-receive"] }, "shop");
  expect(path).toBe(join(reposDir, "shop.git"));
  expect(repoExists(reposDir, "shop")).toBe(true);
  const config = await exec(["git", "--git-dir", path, "config", "--list", "--local"]);
  expect(config.stdout).toContain("core.bare=true");
  expect(config.stdout).toContain("receive.fsckobjects=true");
  expect(config.stdout).toContain("receive.advertisepushoptions=true");
  expect(config.stdout).toContain("http.receivepack=true");
  const hook = join(path, "hooks", "pre-receive");
  expect(readFileSync(hook, "utf8")).toContain(`exec '/opt/beamstalk dir/beamstalk' 'hook' 'pre-receive' "$@"`);
  expect(statSync(hook).mode & 0o111).toBe(0o111);
  await ensureRepo({ reposDir, hookCommand: ["/new/beamstalk", "hook", "pre-receive"] }, "shop");
  expect(readFileSync(hook, "utf8")).toContain("'/new/beamstalk'");
  removeRepo(reposDir, "shop");
  expect(existsSync(path)).toBe(false);
});

test("names are checked before any path is built", async () => {
  const reposDir = join(root, "repos2");
  for (const name of ["../x", "-h", "a/b", "x"]) {
    await expect(ensureRepo({ reposDir, hookCommand: ["true"] }, name)).rejects.toThrow("invalid app name");
    expect(() => removeRepo(reposDir, name)).toThrow("invalid app name");
  }
  expect(existsSync(join(root, "x.git"))).toBe(false);
});
