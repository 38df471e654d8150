import { afterAll, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { checkout } from "../../src/deploy/checkout.ts";
import { fuzz, type Rng } from "../support/fuzz.ts";

/**
 * Source trees are unpacked on the host by checkout() (git archive | tar -x).
 * A push's objects pass receive.fsckObjects; these trees are written as raw
 * objects instead (hash-object --literally), as if fsck had let them through:
 * `..` and absolute names, names with slashes, duplicate names (a symlink and
 * a directory of one name), symlinks out of the tree, `.git`. None may write
 * a byte outside the destination, and none may leave a symlink out of it.
 */
const root = mkdtempSync(join(tmpdir(), "beamstalk-archive-fuzz-"));
const repo = join(root, "repo.git");
const outside = join(root, "outside");
mkdirSync(outside);
Bun.spawnSync(["git", "init", "-q", "--bare", repo]);
afterAll(() => rmSync(root, { recursive: true, force: true }));

function git(args: string[], input?: Buffer): string {
  const r = Bun.spawnSync(["git", "-C", repo, ...args], { stdin: input ?? "ignore" });
  if (r.exitCode !== 0) throw new Error(r.stderr.toString());
  return r.stdout.toString().trim();
}
const blob = (text: string) => git(["hash-object", "-w", "--stdin"], Buffer.from(text));
type Entry = [mode: string, name: string, sha: string];
/** A tree object exactly as given: no sorting, no checks. */
const tree = (entries: Entry[]) =>
  git(["hash-object", "-t", "tree", "-w", "--literally", "--stdin"], Buffer.concat(entries.map(([mode, name, sha]) => Buffer.concat([Buffer.from(`${mode} ${name}\0`), Buffer.from(sha, "hex")]))));
const commit = (sha: string) => git(["-c", "user.name=t", "-c", "user.email=t@example.com", "commit-tree", sha, "-m", "x"]);

const NAMES = ["..", ".", "../x", "/abs", `${outside}/abs`, "a/b", "a/../../x", ".git", ".GIT", "link", "link", "x\\..\\y", "ok", "lib"];
const TARGETS = [outside, "..", "../..", "/", "/etc", "ok", "link/..", "../outside", `../../${outside.split("/").pop()}`, "."];

/** A random hostile tree, at most `depth` levels deep. */
function hostileTree(rng: Rng, depth: number): string {
  const entries: Entry[] = [];
  for (let i = 1 + rng.int(4); i > 0; i--) {
    const name = rng.pick(NAMES);
    const kind = rng.int(depth > 0 ? 3 : 2);
    if (kind === 0) entries.push(["100644", name, blob(`owned ${name}`)]);
    else if (kind === 1) entries.push(["120000", name, blob(rng.pick(TARGETS))]);
    else entries.push(["40000", name, hostileTree(rng, depth - 1)]);
  }
  return tree(entries);
}

/** Names an escape one or two levels up would leave (in root, or in the temporary directory above it). */
const ESCAPED = ["x", "abs", "pwned", "y"];
const aboveBefore = new Set(readdirSync(tmpdir()).filter((n) => ESCAPED.includes(n)));
const nothingOutside = () =>
  readdirSync(outside).length === 0 &&
  readdirSync(root).every((n) => ["repo.git", "outside"].includes(n) || n.startsWith("out-")) &&
  readdirSync(tmpdir()).every((n) => !ESCAPED.includes(n) || aboveBefore.has(n));

/** Every symlink under dest resolves inside it. */
function symlinksInside(dest: string): boolean {
  const base = realpathSync(dest);
  const walk = (dir: string): boolean =>
    readdirSync(dir).every((name) => {
      const path = join(dir, name);
      const stat = lstatSync(path);
      if (stat.isSymbolicLink()) {
        const target = resolve(dirname(path), readlinkSync(path));
        return target === base || target.startsWith(`${base}/`);
      }
      return stat.isDirectory() ? walk(path) : true;
    });
  return walk(base);
}

test("hand-made escapes: `..`, absolute and slashed names, a symlink and a directory of one name, a symlink out", async () => {
  const cases: Record<string, Entry[]> = {
    dotdot: [["40000", "..", tree([["100644", "pwned", blob("x")]])]],
    slashed: [["100644", "../pwned", blob("x")]],
    absolute: [["100644", `${outside}/pwned`, blob("x")]],
    symlinkThenDir: [["120000", "link", blob(outside)], ["40000", "link", tree([["100644", "pwned", blob("x")]])]],
    symlinkThenSlashedName: [["120000", "link", blob(outside)], ["100644", "link/pwned", blob("x")]],
    dirSymlinkDir: [["40000", "link", tree([["100644", "a", blob("1")]])], ["120000", "link", blob(outside)], ["40000", "link", tree([["100644", "pwned", blob("x")]])]],
    symlinkOut: [["120000", "passwd", blob("/etc/passwd")]],
    dotGit: [["40000", ".git", tree([["100644", "config", blob("[core]\n\tfsmonitor = touch pwned\n")]])]],
  };
  for (const [name, entries] of Object.entries(cases)) {
    const dest = join(root, `out-${name}`);
    const result = await checkout({ repoPath: repo, sha: commit(tree(entries)), dest }).then(
      () => "accepted",
      (error: Error) => error.message,
    );
    expect({ name, result }).not.toEqual({ name, result: "accepted" });
    expect(nothingOutside()).toBe(true);
    rmSync(dest, { recursive: true, force: true });
  }
});

test("random hostile trees: refused, or unpacked with nothing outside the destination and no symlink out of it", async () => {
  let accepted = 0;
  const n = await fuzz(
    "archives (checkout)",
    async (rng, i) => {
      const dest = join(root, `out-${i}`);
      const sha = commit(hostileTree(rng, 2));
      const ok = await checkout({ repoPath: repo, sha, dest }).then(
        () => true,
        () => false,
      );
      if (!nothingOutside()) throw new Error(`tree ${sha} wrote outside the destination`);
      if (ok) {
        accepted++;
        if (!symlinksInside(dest)) throw new Error(`tree ${sha} left a symlink out of the destination`);
      }
      expect(existsSync(join(dest, ".git", "config"))).toBe(false);
      rmSync(dest, { recursive: true, force: true });
    },
    { ms: Math.max(3_000, Number(process.env.FUZZ_MS ?? 3_000)) },
  );
  console.log(`  ${accepted} accepted, ${n - accepted} refused`);
  expect(n).toBeGreaterThan(10);
});
