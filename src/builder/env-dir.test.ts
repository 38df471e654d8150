import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Secret } from "../lib/secret.ts";
import { redactor, writeEnvDir } from "./env-dir.ts";

const root = mkdtempSync(join(tmpdir(), "bsbt-env-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("ENV_DIR", () => {
  test("one file per var, value revealed, mode 0600", () => {
    const dir = join(root, "env");
    writeEnvDir(dir, { DATABASE_URL: new Secret("postgres://u:p@h/db"), MIX_ENV: "prod" });
    expect(readdirSync(dir).sort()).toEqual(["DATABASE_URL", "MIX_ENV"]);
    expect(readFileSync(join(dir, "DATABASE_URL"), "utf8")).toBe("postgres://u:p@h/db");
    expect(statSync(join(dir, "MIX_ENV")).mode & 0o777).toBe(0o600);
  });

  test("names that are not variable names are refused", () => {
    expect(() => writeEnvDir(join(root, "bad"), { "../evil": "x" })).toThrow("not a valid variable name");
  });

  test("values printed by a buildpack are redacted", () => {
    const redact = redactor({ TOKEN: new Secret("abcd1234"), SHORT: "on", MULTI: "first-line\nsecond-line" });
    expect(redact("token=abcd1234 on")).toBe("token=[REDACTED] on");
    expect(redact("second-line")).toBe("[REDACTED]");
    expect(redactor({})("x")).toBe("x");
  });
});
