import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkout } from "./checkout.ts";

function repoWith(files: (dir: string) => void) {
  const dir = mkdtempSync(join(tmpdir(), "beamstalk-co-"));
  const work = join(dir, "work");
  mkdirSync(work);
  const git = (...args: string[]) => {
    const res = Bun.spawnSync(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", ...args], { cwd: work });
    if (res.exitCode !== 0) throw new Error(res.stderr.toString());
    return res.stdout.toString().trim();
  };
  git("init", "-q");
  files(work);
  git("add", "-A");
  git("commit", "-qm", "x");
  return { dir, repo: work, sha: git("rev-parse", "HEAD") };
}

describe("checkout", () => {
  test("writes the commit's tree, symlinks inside the tree included", async () => {
    const { dir, repo, sha } = repoWith((w) => {
      mkdirSync(join(w, "lib"));
      writeFileSync(join(w, "mix.exs"), "defmodule X do end\n");
      writeFileSync(join(w, "lib", "a.ex"), "a");
      symlinkSync("lib/a.ex", join(w, "link.ex"));
    });
    const dest = join(dir, "out");
    await checkout({ repoPath: repo, sha, dest });
    expect(readFileSync(join(dest, "mix.exs"), "utf8")).toBe("defmodule X do end\n");
    expect(readFileSync(join(dest, "link.ex"), "utf8")).toBe("a");
    expect(existsSync(join(dest, ".git"))).toBe(false);
  });

  test("refuses a symlink that points outside the app", async () => {
    const { dir, repo, sha } = repoWith((w) => {
      writeFileSync(join(w, "mix.exs"), "x");
      symlinkSync("/etc/passwd", join(w, "Procfile"));
    });
    await expect(checkout({ repoPath: repo, sha, dest: join(dir, "out") })).rejects.toThrow("symlink Procfile points outside the app (/etc/passwd)");
  });

  test("refuses a tree over the size cap, and a bad commit id", async () => {
    const { dir, repo, sha } = repoWith((w) => writeFileSync(join(w, "big"), Buffer.alloc(3 * 1024 * 1024, 1)));
    await expect(checkout({ repoPath: repo, sha, dest: join(dir, "out"), maxBytes: 1024 * 1024 })).rejects.toThrow(/larger than 1 MiB/);
    await expect(checkout({ repoPath: repo, sha: "HEAD; rm -rf /", dest: join(dir, "o2") })).rejects.toThrow(/not a commit id/);
    await expect(checkout({ repoPath: repo, sha: "f".repeat(40), dest: join(dir, "o3") })).rejects.toThrow(/git archive failed/);
  });
});
