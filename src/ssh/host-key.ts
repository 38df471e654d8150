import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { utils } from "ssh2";
import type { Logger } from "../lib/logger.ts";

export const HOST_KEY_FILE = "ssh_host_ed25519_key";

/** Reads `<dataDir>/ssh_host_ed25519_key` (mode 0600), generating it on first start. */
export function loadHostKey(dataDir: string, logger: Logger): string {
  const path = join(dataDir, HOST_KEY_FILE);
  if (!existsSync(path)) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const pair = utils.generateKeyPairSync("ed25519");
    try {
      writeFileSync(path, pair.private, { mode: 0o600, flag: "wx" });
      writeFileSync(`${path}.pub`, pair.public + "\n", { mode: 0o644 });
      logger.info("ssh.host_key.created", { path });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
  const mode = statSync(path).mode & 0o777;
  if (mode !== 0o600) {
    chmodSync(path, 0o600);
    logger.warn("ssh.host_key.mode_fixed", { path, was: mode.toString(8) });
  }
  const key = readFileSync(path, "utf8");
  const parsed = utils.parseKey(key);
  if (parsed instanceof Error || Array.isArray(parsed) || !parsed.isPrivateKey()) {
    throw new Error(`${path} is not an SSH private key; remove it and restart to generate a new one`);
  }
  return key;
}
