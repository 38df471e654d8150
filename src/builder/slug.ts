import { createReadStream, existsSync, linkSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import type { Slug } from "./types.ts";

export async function sha256File(path: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of createReadStream(path)) hasher.update(chunk as Buffer);
  return hasher.digest("hex");
}

/**
 * Moves a finished slug to `<slugDir>/<sha256>.tar.gz`. A slug with that
 * content already there is kept as it is (never rewritten): the new copy goes.
 */
export async function storeSlug(tempPath: string, slugDir: string): Promise<Slug> {
  const bytes = statSync(tempPath).size;
  const sha256 = await sha256File(tempPath);
  const path = join(slugDir, `${sha256}.tar.gz`);
  if (!existsSync(path)) {
    try {
      linkSync(tempPath, path); // fails if another build stored it first: also fine
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
  unlinkSync(tempPath);
  return { path, sha256, bytes };
}
