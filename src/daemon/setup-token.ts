import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { timingSafeEqual } from "node:crypto";
import type { SetupToken } from "../api/index.ts";
import { newToken } from "../state/tokens.ts";

/**
 * A fresh install writes a one-time token into the data directory (mode 0600):
 * only someone who can read it on the host, or reach the local socket, can
 * claim the admin account. It is deleted once the admin exists.
 */
export function setupToken(path: string, hasUsers: boolean): SetupToken {
  if (hasUsers) {
    rmSync(path, { force: true });
  } else if (!existsSync(path)) {
    writeFileSync(path, newToken("bst") + "\n", { mode: 0o600 });
  }
  return {
    location: path,
    matches(token: string) {
      if (!existsSync(path) || !token) return false;
      const expected = Buffer.from(readFileSync(path, "utf8").trim());
      const given = Buffer.from(token.trim());
      return expected.length === given.length && timingSafeEqual(expected, given);
    },
    consume() {
      rmSync(path, { force: true });
    },
  };
}
