import { afterAll, beforeAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { apiKeyFrom } from "../../src/api/auth.ts";
import { createGitHttp } from "../../src/git/http.ts";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import { alice, appExists, authorize, createGitFixture, type GitFixture, HOOK_COMMAND, userForKey } from "./fixture.ts";

let fx: GitFixture;
let server: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  fx = await createGitFixture("git-size");
  const git = createGitHttp({
    reposDir: fx.reposDir,
    hookCommand: HOOK_COMMAND,
    maxPushBytes: 256 * 1024,
    logger: createMemoryLogger(),
    authenticate: async (req) => userForKey(apiKeyFrom(req.headers.get("authorization") ?? undefined)),
    authorize,
    appExists,
    hookEnv: () => fx.hookEnv(),
  });
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: async (req, srv) => (await git(req, srv)) ?? new Response("no", { status: 404 }) });
  writeFileSync(join(fx.home, ".netrc"), `machine 127.0.0.1 login x password ${alice.apiKey}\n`, { mode: 0o600 });
});

afterAll(async () => {
  await server?.stop(true);
  await fx?.stop();
});

test("a push over the size cap is refused before the hook runs, and the branch does not move", async () => {
  const work = await fx.workRepo("shop");
  const url = `http://127.0.0.1:${server.port}/shop.git`;
  fx.script.lines = ["built"];
  fx.script.delayMs = 0;
  fx.script.exit = 0;
  expect((await fx.git(work, ["push", url, "main"])).code).toBe(0);
  const pushesBefore = fx.pushes.length;
  const before = (await fx.git(join(fx.reposDir, "shop.git"), ["rev-parse", "main"])).stdout.trim();

  writeFileSync(join(work, "big.bin"), randomBytes(1024 * 1024));
  await fx.git(work, ["add", "big.bin"]);
  await fx.git(work, ["-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "big"]);
  const res = await fx.git(work, ["push", url, "main"]);
  expect(res.code).not.toBe(0);
  expect(res.out).toMatch(/pack exceeds maximum allowed size/);
  expect(fx.pushes.length).toBe(pushesBefore);
  expect((await fx.git(join(fx.reposDir, "shop.git"), ["rev-parse", "main"])).stdout.trim()).toBe(before);
});
