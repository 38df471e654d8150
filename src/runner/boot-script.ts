import { chmodSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import bootScript from "./boot.sh" with { type: "text" };

export { bootScript };

/**
 * Writes the boot script to `<dir>/boot` (atomically: running containers keep
 * the file they mounted) and returns its path, to be bind-mounted read-only.
 */
export function writeBootScript(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const path = join(dir, "boot");
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, bootScript, { mode: 0o755 });
  chmodSync(temp, 0o755);
  renameSync(temp, path);
  return path;
}
