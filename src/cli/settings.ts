import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

/** Where the CLI keeps what it remembers between runs: the server URL. */
export function settingsPath(env = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(base, "beamstalk", "config.json");
}

export function netrcPath(env = process.env): string {
  return env.NETRC || join(env.HOME || homedir(), ".netrc");
}

export interface Settings {
  url?: string;
}

export function readSettings(path = settingsPath()): Settings {
  if (!existsSync(path)) return {};
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Settings;
  } catch {
    return {};
  }
}

export function writeSettings(settings: Settings, path = settingsPath()): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, JSON.stringify(settings, null, 2) + "\n", { mode: 0o600 });
}
