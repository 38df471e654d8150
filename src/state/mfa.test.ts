import { afterEach, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { totpCode, totpStep } from "../lib/totp.ts";
import { openDatabase } from "./db.ts";
import { createState } from "./index.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

test("what MFA keeps outlives a restart: the secret decrypts with the same master key only, and a used step stays used", () => {
  const dir = mkdtempSync(join(tmpdir(), "beamstalk-mfa-"));
  dirs.push(dir);
  const path = join(dir, "state.db");
  const key = randomBytes(32);
  const now = Date.UTC(2026, 0, 1, 0, 0, 10);
  const clock = () => new Date(now);

  let { db } = openDatabase(path);
  let state = createState(db, key, clock);
  const user = state.users.create({ email: "a@example.com", passwordHash: "x", isAdmin: false });
  const secret = state.mfa.begin(user.id)!.secret.reveal();
  const step = totpStep(now);
  expect(state.mfa.confirm(user.id, totpCode(secret, step))).toMatchObject({ ok: true });
  expect(state.mfa.verify(user.id, totpCode(secret, step + 1))).toEqual({ ok: true, kind: "totp", recoveryCodesLeft: 10 });
  db.close();

  ({ db } = openDatabase(path));
  state = createState(db, key, clock);
  expect(state.mfa.status(user.id)).toEqual({ active: true, activatedAt: new Date(now).toISOString(), recoveryCodesLeft: 10 });
  expect(state.mfa.verify(user.id, totpCode(secret, step + 1))).toEqual({ ok: false, reason: "replayed" });
  expect(state.mfa.verify(user.id, totpCode(secret, step))).toEqual({ ok: false, reason: "replayed" });
  db.close();

  ({ db } = openDatabase(path));
  state = createState(db, randomBytes(32), clock);
  expect(() => state.mfa.verify(user.id, "123456")).toThrow("master.key does not match state.db");
  db.close();
});
