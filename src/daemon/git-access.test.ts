import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultThrottle } from "../api/throttle.ts";
import { createGitHttp } from "../git/http.ts";
import { createMemoryLogger } from "../lib/logger.ts";
import { totpCode, totpStep } from "../lib/totp.ts";
import { openDatabase } from "../state/db.ts";
import { createState } from "../state/index.ts";
import { gitAccess } from "./git-access.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

test("git over HTTP: API keys that are not valid count against the client's address like the API's; the 31st gets 429 with Retry-After", async () => {
  const dir = mkdtempSync(join(tmpdir(), "beamstalk-git-access-"));
  dirs.push(dir);
  const state = createState(openDatabase(join(dir, "state.db")).db, randomBytes(32));
  const git = createGitHttp({ reposDir: join(dir, "repos"), hookCommand: ["true"], logger: createMemoryLogger(), hookEnv: () => ({}), ...gitAccess(state, defaultThrottle()) });
  const from = (address: string) => ({ timeout() {}, requestIP: () => ({ address }) });
  const ask = (key: string, address: string) =>
    git(new Request("http://beamstalk.test/shop.git/info/refs?service=git-upload-pack", { headers: { authorization: `Basic ${Buffer.from(`x:${key}`).toString("base64")}` } }), from(address));
  for (let i = 0; i < 30; i++) expect((await ask(`bsk_wrong${i}`, "203.0.113.5"))!.status).toBe(401);
  const limited = (await ask("bsk_wrong", "203.0.113.5"))!;
  expect(limited.status).toBe(429);
  expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
  expect(await limited.text()).toContain("try again in");
  expect((await ask("bsk_wrong", "203.0.113.6"))!.status).toBe(401);
});

test("git and SSH under a server that requires MFA: a user without it is refused with what to do, on every app they can use; with it, served", async () => {
  const dir = mkdtempSync(join(tmpdir(), "beamstalk-git-access-"));
  dirs.push(dir);
  const state = createState(openDatabase(join(dir, "state.db")).db, randomBytes(32));
  const owner = state.users.create({ email: "owner@example.com", passwordHash: "x", isAdmin: false });
  state.apps.create("shop", owner);
  const access = gitAccess(state, defaultThrottle());
  const key = state.apiKeys.issue(owner.id).key;
  const git = createGitHttp({ reposDir: join(dir, "repos"), hookCommand: ["true"], logger: createMemoryLogger(), hookEnv: () => ({}), ...access });
  const push = () =>
    git(new Request("http://beamstalk.test/shop.git/info/refs?service=git-receive-pack", { headers: { authorization: `Basic ${Buffer.from(`x:${key}`).toString("base64")}` } }));

  expect(access.authorize(owner, "shop", "write")).toBe("ok");
  state.mfa.setRequired(true);
  expect(access.authorize(owner, "shop", "write")).toBe("mfa_setup");
  expect(access.authorize(owner, "elsewhere", "read")).toBe("not_found");
  const refused = (await push())!;
  expect(refused.status).toBe(403);
  expect(await refused.text()).toContain("requires multi-factor authentication, and your account does not have it on yet: run `beamstalk account:mfa:activate`");

  const begun = state.mfa.begin(owner.id)!;
  expect(state.mfa.confirm(owner.id, totpCode(begun.secret.reveal(), totpStep(Date.now()))).ok).toBe(true);
  expect(access.authorize(owner, "shop", "write")).toBe("ok");
  expect((await push())!.status).toBe(200);
});
