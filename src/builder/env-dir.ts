import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Secret } from "../lib/secret.ts";
import { CONFIG_KEY as VAR_NAME } from "../lib/validate.ts";
import { BuildError } from "./types.ts";

/** Writes ENV_DIR: one file per config var, named after it, holding its value (mode 0600). */
export function writeEnvDir(dir: string, env: Record<string, string | Secret>): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const [name, value] of Object.entries(env)) {
    if (!VAR_NAME.test(name)) throw new BuildError("setup", `config var name ${JSON.stringify(name)} is not a valid variable name`);
    const path = join(dir, name);
    writeFileSync(path, value instanceof Secret ? value.reveal() : value, { mode: 0o600 });
  }
  chmodSync(dir, 0o755);
}

/**
 * Replaces config var values in a line of output with [REDACTED], in case a
 * buildpack prints one. Very short values are left alone (they would match
 * everywhere and say nothing).
 */
export function redactor(env: Record<string, string | Secret>): (line: string) => string {
  const values = Object.values(env)
    .map((value) => (value instanceof Secret ? value.reveal() : value))
    .filter((value) => value.length >= 4)
    .flatMap((value) => value.split(/\r?\n/).filter((part) => part.length >= 4))
    .sort((a, b) => b.length - a.length);
  if (values.length === 0) return (line) => line;
  return (line) => values.reduce((out, value) => out.split(value).join("[REDACTED]"), line);
}
