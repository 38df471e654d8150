import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { classifyBuildpack, gitCloneArgv, parseBuildpacksFile, planBuildpacks } from "./buildpacks.ts";

const root = mkdtempSync(join(tmpdir(), "bsbt-plan-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const source = join(root, "src");
mkdirSync(join(source, "bp/local"), { recursive: true });
mkdirSync(join(root, "outside"));
symlinkSync(join(root, "outside"), join(source, "sneaky"));
const fromFile = { sourceDir: source, trusted: false, allowFileGitUrls: false };

describe("buildpack lists", () => {
  test(".buildpacks: one a line, blanks and comments skipped", () => {
    expect(parseBuildpacksFile("# mine\nhttps://github.com/a/b.git#v1\n\n  bp/local  \r\n")).toEqual([
      "https://github.com/a/b.git#v1",
      "bp/local",
    ]);
  });

  test("git URLs with and without #ref", () => {
    expect(classifyBuildpack("https://github.com/a/b.git#v1.2", fromFile)).toEqual({
      kind: "git",
      name: "https://github.com/a/b.git#v1.2",
      url: "https://github.com/a/b.git",
      ref: "v1.2",
    });
    expect(classifyBuildpack("git@github.com:a/b.git", fromFile)).toMatchObject({ kind: "git", ref: null });
    expect(() => classifyBuildpack("https://x/y.git#--upload-pack=evil", fromFile)).toThrow("bad ref");
    expect(() => classifyBuildpack("file:///tmp/x.git", fromFile)).toThrow("file:// URLs are not allowed");
    expect(classifyBuildpack("file:///tmp/x.git", { ...fromFile, allowFileGitUrls: true })).toMatchObject({ kind: "git" });
  });

  test("paths from .buildpacks stay inside the source tree", () => {
    expect(classifyBuildpack("bp/local", fromFile)).toEqual({ kind: "path", name: "bp/local", path: join(source, "bp/local") });
    expect(() => classifyBuildpack("../outside", fromFile)).toThrow("leaves the app's source tree");
    expect(() => classifyBuildpack("sneaky", fromFile)).toThrow("leaves the app's source tree");
    expect(() => classifyBuildpack(join(root, "outside"), fromFile)).toThrow("must be relative");
    expect(() => classifyBuildpack("bp/missing", fromFile)).toThrow("no such directory");
    expect(classifyBuildpack(join(root, "outside"), { ...fromFile, trusted: true })).toMatchObject({ kind: "path" });
  });

  test("plan: caller's list, else .buildpacks (both explicit), else the built-in (detect)", () => {
    expect(planBuildpacks({ sourceDir: source })).toEqual({ mode: "detect", sources: [{ kind: "builtin", name: "builtin:elixir" }] });
    expect(planBuildpacks({ sourceDir: source, buildpacks: ["builtin:elixir"] }).mode).toBe("explicit");
    writeFileSync(join(source, ".buildpacks"), "bp/local\n");
    expect(planBuildpacks({ sourceDir: source })).toEqual({
      mode: "explicit",
      sources: [{ kind: "path", name: "bp/local", path: join(source, "bp/local") }],
    });
    writeFileSync(join(source, ".buildpacks"), "\n# nothing\n");
    expect(() => planBuildpacks({ sourceDir: source })).toThrow("lists no buildpack");
  });

  test("git clone argv: shallow, optional branch, URL after --", () => {
    expect(gitCloneArgv("https://x/y.git", "v2", "/d")).toEqual([
      "git", "clone", "--quiet", "--depth", "1", "--branch", "v2", "--", "https://x/y.git", "/d",
    ]);
    expect(gitCloneArgv("https://x/y.git", null, "/d")).toEqual(["git", "clone", "--quiet", "--depth", "1", "--", "https://x/y.git", "/d"]);
  });
});
