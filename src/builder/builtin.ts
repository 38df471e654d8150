import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import compile from "./buildpacks/elixir/bin/compile" with { type: "text" };
import detect from "./buildpacks/elixir/bin/detect" with { type: "text" };
import release from "./buildpacks/elixir/bin/release" with { type: "text" };
import driver from "./driver.sh" with { type: "text" };
import relup from "./hot/relup.escript" with { type: "text" };

/** The name the built-in Elixir buildpack goes by in results and `.buildpacks`. */
export const BUILTIN_ELIXIR = "builtin:elixir";

/** Writes the embedded Elixir buildpack (carried by the compiled binary) into `dir`. */
export function writeBuiltinElixir(dir: string): string {
  mkdirSync(join(dir, "bin"), { recursive: true });
  for (const [name, text] of Object.entries({ detect, compile, release })) {
    const path = join(dir, "bin", name);
    writeFileSync(path, text);
    chmodSync(path, 0o755);
  }
  return dir;
}

/** Writes the in-container build driver and returns its path. */
export function writeDriver(dir: string): string {
  const path = join(dir, "driver.sh");
  writeFileSync(path, driver);
  chmodSync(path, 0o755);
  return path;
}

/** Writes the appup/relup maker a hot upgrade's build runs (driver.sh calls it). */
export function writeRelupScript(dir: string): string {
  const path = join(dir, "relup.escript");
  writeFileSync(path, relup);
  return path;
}
