import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import type { Authorization, GitNeed, GitUser } from "../../src/git/access.ts";
import { formatExitLine, type PushRequest } from "../../src/git/push-protocol.ts";
import { exec } from "../../src/lib/exec.ts";

/** Users, keys and roles as data; the in-test stand-ins for state and the daemon. */
export interface TestUser extends GitUser {
  apiKey: string;
}

export const alice: TestUser = { id: 1, email: "alice@example.com", apiKey: "bsk_alice_0123456789" };
export const bob: TestUser = { id: 2, email: "bob@example.com", apiKey: "bsk_bob_0123456789" };
export const carol: TestUser = { id: 3, email: "carol@example.com", apiKey: "bsk_carol_0123456789" };
export const USERS = [alice, bob, carol];

/** app → user id → role. */
export const ROLES: Record<string, Record<number, "owner" | "collaborator" | "viewer">> = {
  shop: { [alice.id]: "owner", [bob.id]: "viewer" },
  "bobs-app": { [bob.id]: "owner" },
  "other-app": { [alice.id]: "owner" },
};

export const HOOK_COMMAND = [process.execPath, resolve(import.meta.dir, "hook-entry.ts")];

export function appExists(app: string): boolean {
  return app in ROLES;
}

export function authorize(user: GitUser, app: string, need: GitNeed): Authorization {
  const role = ROLES[app]?.[user.id];
  if (!role) return "not_found";
  if (need === "write" && role === "viewer") return "forbidden";
  return "ok";
}

export function userForKey(key: string | null): TestUser | null {
  return USERS.find((u) => u.apiKey === key) ?? null;
}

export interface RecordedPush {
  body: PushRequest;
  /** `git ls-tree -r --name-only <new>` run with gitEnv, per updated ref (not deletions). */
  files: Record<string, string[]>;
  archiveCodes: number[];
}

/** What the stand-in daemon does with a push: its exit code, after some lines. */
export interface DaemonScript {
  lines: string[];
  delayMs: number;
  exit: number;
}

export interface GitFixture {
  root: string;
  reposDir: string;
  dataDir: string;
  home: string;
  socket: string;
  pushes: RecordedPush[];
  script: DaemonScript;
  hookEnv(): Record<string, string>;
  /** A fresh work repository with one commit on main. */
  workRepo(name: string): Promise<string>;
  git(cwd: string, args: string[], env?: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string; out: string }>;
  commit(cwd: string, file: string, content: string): Promise<string>;
  /** Every path under root except the given dirs, relative to root. */
  tree(exclude?: string[]): string[];
  stop(): Promise<void>;
}

export async function createGitFixture(prefix: string): Promise<GitFixture> {
  const root = mkdtempSync(join(tmpdir(), `beamstalk-${prefix}-`));
  const dataDir = join(root, "data");
  const reposDir = join(dataDir, "repos");
  const home = join(root, "home");
  const work = join(root, "work");
  for (const dir of [dataDir, reposDir, home, work]) mkdirSync(dir, { recursive: true });
  writeFileSync(join(home, ".gitconfig"), "[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n");
  const socket = join(dataDir, "beamstalk.sock");
  const pushes: RecordedPush[] = [];
  const script: DaemonScript = { lines: ["-----> Building", "-----> Done"], delayMs: 0, exit: 0 };

  const daemon = Bun.serve({
    unix: socket,
    async fetch(req, srv) {
      srv.timeout(req, 0);
      const url = new URL(req.url);
      if (req.method !== "POST" || url.pathname !== "/internal/push") return new Response("not found", { status: 404 });
      const body = (await req.json()) as PushRequest;
      const files: Record<string, string[]> = {};
      const archiveCodes: number[] = [];
      for (const ref of body.refs) {
        if (/^0+$/.test(ref.new)) continue;
        const env = { ...body.gitEnv } as Record<string, string>;
        const archive = await exec(["git", "archive", "--format=tar", ref.new], { cwd: body.repoPath, env });
        archiveCodes.push(archive.code);
        const ls = await exec(["git", "ls-tree", "-r", "--name-only", ref.new], { cwd: body.repoPath, env });
        files[ref.ref] = ls.stdout.trim().split("\n").filter(Boolean);
      }
      pushes.push({ body, files, archiveCodes });
      const { lines, delayMs, exit } = { ...script };
      const encoder = new TextEncoder();
      return new Response(
        new ReadableStream({
          async start(controller) {
            for (const line of lines) {
              controller.enqueue(encoder.encode(line + "\n"));
              if (delayMs) await Bun.sleep(delayMs);
            }
            controller.enqueue(encoder.encode(formatExitLine(exit)));
            controller.close();
          },
        }),
        { headers: { "Content-Type": "text/plain; charset=utf-8" } },
      );
    },
  });

  const gitEnv = (extra: Record<string, string> = {}) => ({
    HOME: home,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_TERMINAL_PROMPT: "0",
    GIT_ASKPASS: "",
    SSH_ASKPASS: "",
    ...extra,
  });
  const git = async (cwd: string, args: string[], env: Record<string, string> = {}) => {
    const res = await exec(["git", ...args], { cwd, env: gitEnv(env), timeoutMs: 60_000 });
    return { ...res, out: res.stdout + res.stderr };
  };
  const commit = async (cwd: string, file: string, content: string) => {
    writeFileSync(join(cwd, file), content);
    await git(cwd, ["add", "--", file]);
    const res = await git(cwd, ["commit", "-q", "-m", `change ${file}`]);
    if (res.code !== 0) throw new Error(res.out);
    return (await git(cwd, ["rev-parse", "HEAD"])).stdout.trim();
  };

  return {
    root,
    reposDir,
    dataDir,
    home,
    socket,
    pushes,
    script,
    hookEnv: () => ({ BEAMSTALK_SOCKET: socket }),
    async workRepo(name) {
      const dir = join(work, name);
      mkdirSync(dir);
      const res = await git(dir, ["init", "-q", "-b", "main"]);
      if (res.code !== 0) throw new Error(res.out);
      await commit(dir, "mix.exs", `defmodule ${name.replace(/\W/g, "")} do end\n`);
      return dir;
    },
    git,
    commit,
    tree(exclude = []) {
      const out: string[] = [];
      const walk = (dir: string) => {
        for (const entry of readdirSync(dir, { withFileTypes: true })) {
          const path = join(dir, entry.name);
          const rel = relative(root, path);
          if (exclude.some((e) => rel === e || rel.startsWith(e + "/"))) continue;
          out.push(rel);
          if (entry.isDirectory()) walk(path);
        }
      };
      walk(root);
      return out.sort();
    },
    async stop() {
      await daemon.stop(true);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
