import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runPreReceiveHook } from "./hook.ts";
import type { PushRequest } from "./push-protocol.ts";

const root = mkdtempSync(join(tmpdir(), "beamstalk-hook-"));
const repo = join(root, "shop.git");
const socket = join(root, "d.sock");
const requests: PushRequest[] = [];
let answer: () => Response = () => new Response("beamstalk:exit=0\n");
let daemon: ReturnType<typeof Bun.serve>;
const A = "a".repeat(40);
const Z = "0".repeat(40);

beforeAll(() => {
  mkdirSync(repo);
  daemon = Bun.serve({
    unix: socket,
    async fetch(req) {
      if (new URL(req.url).pathname !== "/internal/push") return new Response("no", { status: 404 });
      requests.push((await req.json()) as PushRequest);
      return answer();
    },
  });
});
afterAll(async () => {
  await daemon.stop(true);
  rmSync(root, { recursive: true, force: true });
});

async function run(env: Record<string, string>, stdin = `${Z} ${A} refs/heads/main\n`, cwd = repo) {
  let out = "";
  const code = await runPreReceiveHook({ stdin, cwd, env: { BEAMSTALK_SOCKET: socket, BEAMSTALK_USER_ID: "7", ...env }, write: (t) => void (out += t) });
  return { code, out };
}

function chunks(...parts: string[]): Response {
  const encoder = new TextEncoder();
  return new Response(
    new ReadableStream({
      async start(c) {
        for (const p of parts) {
          c.enqueue(encoder.encode(p));
          await Bun.sleep(5);
        }
        c.close();
      },
    }),
  );
}

test("sends the push and relays lines split across chunks; the exit line is the result", async () => {
  answer = () => chunks("-----> Buil", "ding\n-----> Do", "ne\nbeamstalk:exi", "t=3\n");
  const { code, out } = await run({
    GIT_QUARANTINE_PATH: `${repo}/objects/tmp_objdir-incoming-x`,
    GIT_OBJECT_DIRECTORY: `${repo}/objects/tmp_objdir-incoming-x`,
    GIT_ALTERNATE_OBJECT_DIRECTORIES: `${repo}/objects`,
    GIT_PUSH_OPTION_COUNT: "3",
    GIT_PUSH_OPTION_0: "clean",
    GIT_PUSH_OPTION_1: "x=y",
    GIT_PUSH_OPTION_2: "hot",
  });
  expect(code).toBe(3);
  expect(out).toBe("-----> Building\n-----> Done\n");
  expect(requests.at(-1)).toEqual({
    app: "shop",
    userId: 7,
    repoPath: repo,
    refs: [{ old: Z, new: A, ref: "refs/heads/main" }],
    gitEnv: {
      GIT_OBJECT_DIRECTORY: `${repo}/objects/tmp_objdir-incoming-x`,
      GIT_ALTERNATE_OBJECT_DIRECTORIES: `${repo}/objects`,
      GIT_QUARANTINE_PATH: `${repo}/objects/tmp_objdir-incoming-x`,
    },
    pushOptions: ["clean", "x=y", "hot"],
    clean: true,
    hot: true,
  });
});

test("BEAMSTALK_CLEAN=1 sets clean, BEAMSTALK_HOT=1 sets hot; neither without them", async () => {
  answer = () => new Response("beamstalk:exit=0");
  expect((await run({})).code).toBe(0);
  expect(requests.at(-1)).toMatchObject({ clean: false, hot: false });
  expect((await run({ BEAMSTALK_HOT: "1" })).code).toBe(0);
  expect(requests.at(-1)).toMatchObject({ clean: false, hot: true });
  expect((await run({ BEAMSTALK_CLEAN: "1" })).code).toBe(0);
  expect(requests.at(-1)!.clean).toBe(true);
  expect(requests.at(-1)!.hot).toBe(false);
  expect(requests.at(-1)!.pushOptions).toEqual([]);
});

test("no exit line, a refusal, an unreachable daemon: rejected with a message", async () => {
  answer = () => chunks("-----> half a build\n");
  expect(await run({})).toEqual({ code: 1, out: "-----> half a build\nbeamstalk: the daemon ended without a result; push rejected\n" });
  answer = () => new Response("app is locked", { status: 409 });
  expect(await run({})).toEqual({ code: 1, out: "beamstalk: the daemon refused the push (HTTP 409): app is locked\n" });
  const down = await run({ BEAMSTALK_SOCKET: join(root, "none.sock") });
  expect(down.code).toBe(1);
  expect(down.out).toContain("the beamstalk daemon is not reachable");
});

test("outside the git server, or in a repository not named for an app: rejected before any request", async () => {
  const count = requests.length;
  expect((await run({ BEAMSTALK_SOCKET: "" })).code).toBe(1);
  expect((await run({ BEAMSTALK_USER_ID: "x" })).code).toBe(1);
  expect((await run({}, "garbage\n")).code).toBe(1);
  const odd = join(root, "Bad_Name.git");
  mkdirSync(odd);
  expect((await run({}, undefined, odd)).out).toContain("does not name an app");
  expect(requests.length).toBe(count);
});
