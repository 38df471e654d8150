import { readFileSync } from "node:fs";
import type { UpgradePackage } from "../builder/types.ts";
import type { Replica, Runner } from "../runner/types.ts";
import { isReleaseName, isReleaseVersion } from "../lib/validate.ts";
import { execOutput, rpcArgv } from "./beam.ts";

/**
 * Hot upgrades on running replicas (DESIGN §2, NOTES "Hot upgrades with plain mix
 * releases"): the build made an upgrade package (lib/APP-VSN of what changed,
 * releases/VSN with its relup, releases/NAME-VSN.rel); each replica gets it in
 * its /app/releases and :release_handler unpacks, installs and makes it
 * permanent, in the node that is running. The container keeps its label and
 * its writable /app: a restart of that container boots the new version
 * (start_erl.data), and new containers come from the new slug.
 */

/** How long one replica may take to take the package and install it. */
export const INSTALL_TIMEOUT_MS = 60_000;

const MARK = "beamstalk-hot: ";
const NO_ANSWER = "the node did not answer";

type Exec = Pick<Runner, "exec">;

/**
 * The names spliced into the Elixir and the package's path below come from the
 * user's build (the builder checks them too, keepUpgrade): checked again here,
 * before any use. Nothing else is ever spliced.
 */
function checked(pkg: Pick<UpgradePackage, "name" | "from" | "to">): void {
  if (!isReleaseName(pkg.name)) throw new Error(`unexpected release name ${JSON.stringify(pkg.name)}`);
  for (const v of [pkg.from, pkg.to]) if (!isReleaseVersion(v)) throw new Error(`unexpected release version ${JSON.stringify(v)}`);
}

/** Unpack, install and make permanent `to` on the node; prints `beamstalk-hot: :ok` or the reason. */
export function installExpr(pkg: Pick<UpgradePackage, "name" | "from" | "to">): string {
  checked(pkg);
  return [
    `to = ~c"${pkg.to}"`,
    `unpacked = case :release_handler.unpack_release(~c"${pkg.name}-${pkg.to}") do {:error, {:existing_release, v}} -> {:ok, v}; other -> other end`,
    `result = with {:ok, ^to} <- unpacked, {:ok, _, _} <- :release_handler.install_release(to), :ok <- :release_handler.make_permanent(to), do: :ok`,
    `IO.puts("${MARK}" <> inspect(result, limit: :infinity, printable_limit: 2000))`,
  ].join("\n");
}

/**
 * Puts the node back on `from` whatever step it reached: downgrade if `to` is
 * running (the relup's down instructions), `from` permanent, `to` removed.
 */
export function restoreExpr(pkg: Pick<UpgradePackage, "name" | "from" | "to">): string {
  checked(pkg);
  return [
    `from = ~c"${pkg.from}"`,
    `to = ~c"${pkg.to}"`,
    `status = fn -> Map.new(:release_handler.which_releases(), fn {_, v, _, s} -> {v, s} end) end`,
    `down = if status.()[to] in [:current, :permanent], do: (case :release_handler.install_release(from) do {:ok, _, _} -> :ok; e -> e end), else: :ok`,
    `permanent = if down == :ok and status.()[from] != :permanent, do: :release_handler.make_permanent(from), else: down`,
    `result = if permanent == :ok and Map.has_key?(status.(), to), do: :release_handler.remove_release(to), else: permanent`,
    `IO.puts("${MARK}" <> inspect(result, limit: :infinity, printable_limit: 2000))`,
  ].join("\n");
}

/** Reads the node's answer: null when it said :ok, else what went wrong. */
export function hotOutcome(out: { code: number; stdout: string; stderr: string; timedOut: boolean }, timeoutMs: number): string | null {
  if (out.timedOut || out.code === 124 || out.code === 137) return `no answer within ${Math.round(timeoutMs / 1000)} s`;
  const line = out.stdout.split("\n").find((l) => l.startsWith(MARK));
  if (line) return line.slice(MARK.length).trim() === ":ok" ? null : line.slice(MARK.length).trim();
  const last = (out.stderr || out.stdout).split("\n").map((l) => l.trim()).filter(Boolean).pop();
  return `${NO_ANSWER} (${last ?? `exit ${out.code}`})`;
}

/** Copies the package into the replica's /app/releases as NAME-VSN.tar.gz (as the app user). */
async function putPackage(runner: Exec, replica: Replica, pkg: UpgradePackage, timeoutMs: number): Promise<string | null> {
  checked(pkg);
  const target = `/app/releases/${pkg.name}-${pkg.to}.tar.gz`;
  const argv = ["/bin/bash", "-c", 'cat >"$1.part" && mv -f -- "$1.part" "$1"', "beamstalk", target];
  const res = await execOutput(runner, replica.id, argv, timeoutMs, readFileSync(pkg.path));
  if (res.timedOut) return `copying the upgrade package took over ${Math.round(timeoutMs / 1000)} s`;
  return res.code === 0 ? null : `copying the upgrade package failed: ${res.stderr.trim() || `exit ${res.code}`}`;
}

async function evaluate(runner: Exec, replica: Replica, pkg: UpgradePackage, expr: string, timeoutMs: number): Promise<string | null> {
  const res = await execOutput(runner, replica.id, rpcArgv({ name: pkg.name, distillery: false }, expr, timeoutMs / 1000), timeoutMs + 2000);
  return hotOutcome(res, timeoutMs);
}

export interface HotResult {
  replica: Replica;
  /** Null when the replica runs the new version, permanent. */
  error: string | null;
}

/** Installs the package on every replica at once. Never throws: each replica's outcome is in the result. */
export async function installOnReplicas(runner: Exec, replicas: Replica[], pkg: UpgradePackage, timeoutMs = INSTALL_TIMEOUT_MS): Promise<HotResult[]> {
  return Promise.all(
    replicas.map(async (replica) => {
      try {
        const error = (await putPackage(runner, replica, pkg, timeoutMs)) ?? (await evaluate(runner, replica, pkg, installExpr(pkg), timeoutMs));
        return { replica, error };
      } catch (err) {
        return { replica, error: (err as Error).message };
      }
    }),
  );
}

/** Puts replicas back on the old version; returns what could not be restored (replica, reason). */
export async function restoreReplicas(runner: Exec, replicas: Replica[], pkg: UpgradePackage, timeoutMs = INSTALL_TIMEOUT_MS): Promise<HotResult[]> {
  const results = await Promise.all(
    replicas.map(async (replica) => {
      // A failed install restarts the node on the old release (release_handler's
      // init:restart): it does not answer for a few seconds, so ask again until it does.
      const deadline = Date.now() + timeoutMs;
      let error: string | null = null;
      do {
        try {
          error = await evaluate(runner, replica, pkg, restoreExpr(pkg), Math.max(1000, deadline - Date.now()));
        } catch (err) {
          error = (err as Error).message;
        }
        if (error === null || !error.startsWith(NO_ANSWER)) break;
        await Bun.sleep(500);
      } while (Date.now() < deadline);
      return { replica, error };
    }),
  );
  return results.filter((r) => r.error !== null);
}
