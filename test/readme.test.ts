import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { commandReference } from "../src/cli/reference.ts";
import { BINARY } from "./support/daemon.ts";

const ROOT = join(import.meta.dir, "..");
const readme = readFileSync(join(ROOT, "README.md"), "utf8");

test("the README's command reference matches the CLI's commands", () => {
  expect(readme).toContain(commandReference());
});

test("every command in the reference is one the binary knows, and the other way round", () => {
  const help = Bun.spawnSync([BINARY, "--help"], { env: { ...process.env, NO_COLOR: "1" } }).stdout.toString();
  const inReadme = [...readme.matchAll(/^\| `beamstalk ([a-z_:]+)/gm)].map((m) => m[1]!);
  expect(inReadme.length).toBeGreaterThan(20);
  for (const name of inReadme) expect(help).toContain(name);
  const inHelp = [...help.matchAll(/^\s+(?:\x1b\[\d+m)?([a-z][a-z_:-]*)(?:, [a-z_:]+)*(?:\x1b\[\d+m)?\s{2,}/gm)].map((m) => m[1]!);
  expect(inHelp).toContain("config:set");
  const hostCommands = ["server", "systemd-unit", "stack:build"];
  expect(inHelp.length).toBe(inReadme.length + hostCommands.length);
  for (const name of hostCommands) expect(readme).toContain(`\`beamstalk ${name}`);
  for (const name of inHelp.filter((n) => !hostCommands.includes(n))) expect(inReadme).toContain(name);
});

test("the README's test command is what CI runs", () => {
  expect(readme).toContain("npm ci && npm test");
  const ci = readFileSync(join(ROOT, ".ci/run"), "utf8");
  expect(ci).toContain("npm ci --no-audit --no-fund");
  expect(ci).toContain("npm test");
});
