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

describe("checkout with submodules", () => {
  /** An app with a submodule added from file://, then recorded in .gitmodules as `recorded` when given. */
  function withSubmodule(recorded?: string) {
    const lib = repoWith((w) => writeFileSync(join(w, "lib.ex"), "defmodule Lib do end\n"));
    const nested = { dir: "", repo: "", sha: "" };
    const app = repoWith((w) => writeFileSync(join(w, "mix.exs"), "x"));
    const git = (...args: string[]) => {
      const res = Bun.spawnSync(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "protocol.file.allow=always", ...args], { cwd: app.repo });
      if (res.exitCode !== 0) throw new Error(res.stderr.toString());
      return res.stdout.toString().trim();
    };
    git("submodule", "add", "-q", `file://${lib.repo}`, "deps/lib");
    if (recorded) git("config", "--file", ".gitmodules", "submodule.deps/lib.url", recorded);
    git("add", ".gitmodules");
    git("commit", "-qm", "add submodule");
    Object.assign(nested, app, { sha: git("rev-parse", "HEAD") });
    return nested;
  }

  test("fetches each submodule at its recorded commit", async () => {
    const app = withSubmodule();
    const lines: string[] = [];
    const dest = join(app.dir, "out");
    await checkout({ repoPath: app.repo, sha: app.sha, dest, allowFileSubmodules: true, out: (l) => lines.push(l) });
    expect(readFileSync(join(dest, "deps/lib/lib.ex"), "utf8")).toBe("defmodule Lib do end\n");
    expect(lines[0]).toMatch(/^-----> Fetching submodule deps\/lib \([0-9a-f]{7}\)$/);
  });

  test("refuses file:// and relative submodule URLs on a server", async () => {
    const app = withSubmodule();
    await expect(checkout({ repoPath: app.repo, sha: app.sha, dest: join(app.dir, "out") })).rejects.toThrow(/cannot fetch submodule deps\/lib/);
    const relative = withSubmodule("../lib.git");
    await expect(checkout({ repoPath: relative.repo, sha: relative.sha, dest: join(relative.dir, "out2") })).rejects.toThrow(
      "submodule deps/lib: relative or local URL ../lib.git is not supported",
    );
  });
});
