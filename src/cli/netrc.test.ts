import { describe, expect, test } from "bun:test";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Netrc, parseEntry, withEntry } from "./netrc.ts";

const existing = `machine github.example
  login me
  password ghp_x

default login anon password guest
`;

describe("netrc", () => {
  test("adds an entry and keeps the others untouched", () => {
    const text = withEntry(existing, "paas.example", { login: "a@b.co", password: "bsk_1" });
    expect(text.startsWith(existing)).toBe(true);
    expect(parseEntry(text, "paas.example")).toEqual({ login: "a@b.co", password: "bsk_1" });
    expect(parseEntry(text, "github.example")).toEqual({ login: "me", password: "ghp_x" });
  });

  test("replaces an entry in place and removes it", () => {
    const once = withEntry(existing, "paas.example", { login: "a@b.co", password: "bsk_1" });
    const twice = withEntry(once, "paas.example", { login: "a@b.co", password: "bsk_2" });
    expect(twice.match(/machine paas\.example/g)).toHaveLength(1);
    expect(parseEntry(twice, "paas.example")?.password).toBe("bsk_2");
    const removed = withEntry(twice, "paas.example", null);
    expect(removed).not.toContain("paas.example");
    expect(parseEntry(removed, "github.example")?.password).toBe("ghp_x");
  });

  test("reads one-line entries and falls back to default", () => {
    expect(parseEntry("machine h login u password p", "h")).toEqual({ login: "u", password: "p" });
    expect(parseEntry(existing, "unknown.example")).toEqual({ login: "anon", password: "guest" });
    expect(parseEntry("", "h")).toBeNull();
  });

  test("the file is written with mode 0600", () => {
    const path = join(mkdtempSync(join(tmpdir(), "beamstalk-netrc-")), ".netrc");
    const netrc = new Netrc(path);
    netrc.set("h", { login: "u", password: "p" });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(netrc.get("h")).toEqual({ login: "u", password: "p" });
  });
});
