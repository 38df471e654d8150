import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { checkAppName } from "../lib/validate.ts";
import type { Logger } from "../lib/logger.ts";

/** Everything the daemon keeps lives under one directory (DESIGN.md §1). */
export function dataPaths(root: string) {
  return {
    root,
    stateDb: join(root, "state.db"),
    masterKey: join(root, "master.key"),
    setupToken: join(root, "setup-token"),
    socket: join(root, "beamstalk.sock"),
    repos: join(root, "repos"),
    slugs: join(root, "slugs"),
    cache: join(root, "cache"),
    logs: join(root, "logs"),
    certs: join(root, "certs"),
    backups: join(root, "backups"),
    tmp: join(root, "tmp"),
  };
}

export type DataPaths = ReturnType<typeof dataPaths>;

export function ensureDataDir(paths: DataPaths): void {
  mkdirSync(paths.root, { recursive: true, mode: 0o700 });
  for (const dir of [paths.repos, paths.slugs, paths.cache, paths.logs, paths.certs, paths.backups, paths.tmp]) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
}

/** Reads master.key, creating it (32 random bytes, mode 0600) on first boot. */
export function loadMasterKey(paths: DataPaths, logger: Logger): Uint8Array {
  if (!existsSync(paths.masterKey)) {
    writeFileSync(paths.masterKey, randomBytes(32), { mode: 0o600, flag: "wx" });
    logger.info("master_key.created", { path: paths.masterKey });
  }
  const mode = statSync(paths.masterKey).mode & 0o777;
  if (mode !== 0o600) {
    chmodSync(paths.masterKey, 0o600);
    logger.warn("master_key.mode_fixed", { path: paths.masterKey, was: mode.toString(8) });
  }
  const key = readFileSync(paths.masterKey);
  if (key.length !== 32) throw new Error(`${paths.masterKey} must hold exactly 32 bytes (has ${key.length}); restore it from backup`);
  return key;
}

/** Removes what an app keeps on disk. The name is checked again so no path can escape the data directory. */
export async function removeAppFiles(paths: DataPaths, name: string): Promise<void> {
  checkAppName(name);
  rmSync(join(paths.repos, `${name}.git`), { recursive: true, force: true });
  for (const dir of [paths.slugs, paths.cache, paths.logs, paths.backups]) {
    rmSync(join(dir, name), { recursive: true, force: true });
  }
}
