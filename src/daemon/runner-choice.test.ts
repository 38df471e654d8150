import { afterAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../state/db.ts";
import { createState } from "../state/index.ts";
import { checkRunnerChoice } from "./runner-choice.ts";

const dir = mkdtempSync(join(tmpdir(), "beamstalk-runner-choice-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a server without apps may switch runners; one with apps keeps its runner and says how to move", () => {
  const state = createState(openDatabase(join(dir, "state.db")).db, randomBytes(32));
  checkRunnerChoice(state, "docker");
  checkRunnerChoice(state, "swarm");
  expect(state.settings.get("runner")).toBe("swarm");
  const owner = state.users.create({ email: "o@example.com", passwordHash: "x", isAdmin: true });
  state.apps.create("hello", owner);
  expect(() => checkRunnerChoice(state, "docker")).toThrow(/runs its apps with --runner swarm; it cannot start with --runner docker while it has apps \(1\)/);
  expect(state.settings.get("runner")).toBe("swarm");
  checkRunnerChoice(state, "swarm");
});

test("k3s is a runner of its own: a server with apps on Docker cannot move to it, and is told where to read how", () => {
  const state = createState(openDatabase(join(dir, "k3s.db")).db, randomBytes(32));
  checkRunnerChoice(state, "k3s");
  expect(state.settings.get("runner")).toBe("k3s");
  checkRunnerChoice(state, "docker");
  const owner = state.users.create({ email: "o@example.com", passwordHash: "x", isAdmin: true });
  state.apps.create("hello", owner);
  let hint = "";
  try {
    checkRunnerChoice(state, "k3s");
  } catch (err) {
    hint = (err as { hint: string }).hint;
  }
  expect(hint).toBe('start it with --runner docker, or move the apps: see "Beamstalk on k3s" in the README');
  expect(state.settings.get("runner")).toBe("docker");
});
