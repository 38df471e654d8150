import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseListen } from "./command.ts";
import { readTokenFile } from "./token-file.ts";

const dir = mkdtempSync(join(tmpdir(), "beamstalk-agent-cmd-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("--listen takes HOST:PORT and [IPv6]:PORT", () => {
  expect(parseListen("0.0.0.0:7070")).toEqual({ hostname: "0.0.0.0", port: 7070 });
  expect(parseListen("[::]:7070")).toEqual({ hostname: "::", port: 7070 });
  expect(parseListen("agent.local:0")).toEqual({ hostname: "agent.local", port: 0 });
  for (const bad of ["7070", "0.0.0.0", ":7070", "::1:7070", "host:70700", "host:-1", "a b:1"]) expect(() => parseListen(bad)).toThrow(/--listen/);
});

test("the token file: one line, its newline dropped; short, spaced or missing ones are refused without echoing them", () => {
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const token = "f00d".repeat(16);
  expect(readTokenFile(file("ok", token + "\n")).reveal()).toBe(token);
  expect(readTokenFile(file("bare", token)).reveal()).toBe(token);
  expect(String(readTokenFile(file("ok2", token)))).toBe("[REDACTED]");
  expect(() => readTokenFile(file("short", "shortsecret\n"))).toThrow(/11 characters; at least 32/);
  let message = "";
  try {
    readTokenFile(file("spaced", `${token} ${token}\n`));
  } catch (err) {
    message = (err as Error).message;
  }
  expect(message).toContain("one line of printable ASCII");
  expect(message).not.toContain(token);
  expect(() => readTokenFile(file("empty", ""))).toThrow(/printable ASCII/);
  expect(() => readTokenFile(join(dir, "absent"))).toThrow(/cannot read the agent token file .*ENOENT/);
});
