import { PSQL_FROM_URL } from "../lib/psql.ts";
import type { OpsCommand } from "./ops-command.ts";

/** What a replica's slug says about its release (the builder leaves /app/.beamstalk/release-*). */
export interface ReleaseInfo {
  /** `hello` for /app/bin/hello. */
  name: string;
  /** Distillery releases start with `foreground` and attach with `remote_console`. */
  distillery: boolean;
}

export const RELEASE_NAME = /^[a-z][a-z0-9_]{0,62}$/;
export const RELEASE_NAME_FILE = "/app/.beamstalk/release-name";
export const RELEASE_START_FILE = "/app/.beamstalk/release-start";

/** Reads the release files from `grep -sH "" NAME_FILE START_FILE` output; null when there is no valid name. */
export function releaseFromFiles(grepOutput: string): ReleaseInfo | null {
  const values: Record<string, string> = {};
  for (const line of grepOutput.split("\n")) {
    const at = line.indexOf(":");
    if (at > 0 && !(line.slice(0, at) in values)) values[line.slice(0, at)] = line.slice(at + 1).trim();
  }
  const name = values[RELEASE_NAME_FILE];
  if (!name || !RELEASE_NAME.test(name)) return null;
  return { name, distillery: values[RELEASE_START_FILE] === "foreground" };
}

/** Without the builder's files: the one executable in /app/bin (from `find … -printf '%f\n'`), when there is exactly one. */
export function releaseFromBin(findOutput: string): ReleaseInfo | null {
  const names = findOutput.split("\n").map((s) => s.trim()).filter((s) => RELEASE_NAME.test(s));
  return names.length === 1 ? { name: names[0]!, distillery: false } : null;
}

/** Written by the boot script of a replica: its node name (`<app>@<ip>`), which only the container knows. */
export const NODE_ENV_FILE = "/var/lib/beamstalk/node.env";

/**
 * Runs inside the replica (never on the host): a UTF-8 locale unless the app set
 * one (the BEAM reads argv as latin1 without it), the replica's node name from
 * the boot script (so `bin/<release> rpc` and `remote` reach the running node),
 * the slug's .profile.d sourced the way the boot script does, then its arguments
 * exec'd exactly ("$@", never parsed).
 */
export const PROFILE_THEN_EXEC =
  `cd /app || exit 1; export LANG="\${LANG:-C.UTF-8}"; if [ -r ${NODE_ENV_FILE} ]; then . ${NODE_ENV_FILE}; fi; for f in /app/.profile.d/*.sh; do if [ -r "$f" ]; then . "$f"; fi; done; exec "$@"`;


/** The Elixir run by `migrate`: reads the app name from the environment, so nothing is spliced into code. */
export const MIGRATE_EXPR = `app = String.to_atom(System.fetch_env!("BEAMSTALK_MIGRATION_APP"))
mod = Module.concat([Macro.camelize(Atom.to_string(app)), "Release"])
cond do
  Code.ensure_loaded?(mod) and function_exported?(mod, :migrate, 0) ->
    IO.puts("Running #{inspect(mod)}.migrate/0")
    mod.migrate()
  Code.ensure_loaded?(Ecto.Migrator) ->
    Application.load(app)
    {:ok, _} = Application.ensure_all_started(:ssl)
    repos = Application.get_env(app, :ecto_repos, [])
    if repos == [] do
      IO.puts(:stderr, "#{app} lists no :ecto_repos; nothing to migrate")
      System.halt(1)
    end
    for repo <- repos do
      IO.puts("Migrating #{inspect(repo)}")
      {:ok, _, _} = apply(Ecto.Migrator, :with_repo, [repo, &apply(Ecto.Migrator, :run, [&1, :up, [all: true]])])
    end
  true ->
    IO.puts(:stderr, "#{app} defines no #{inspect(mod)}.migrate/0 and the release has no Ecto: nothing to migrate (pass --migration-app for an umbrella's app)")
    System.halt(1)
end
IO.puts("Migrations done")
`;

export interface ReplicaCommand {
  argv: string[];
  env: Record<string, string>;
}

/** The argv (and extra env) run in the replica for a command: plain data, asserted by tests. */
export function replicaCommand(command: OpsCommand, release: ReleaseInfo | null): ReplicaCommand {
  const wrap = (argv: string[]) => ["/bin/bash", "-c", PROFILE_THEN_EXEC, "beamstalk", ...argv];
  if (command.kind === "ssh") return { argv: wrap(["/bin/bash", "-l"]), env: {} };
  if (command.kind === "psql") return { argv: wrap(["/bin/bash", "-c", PSQL_FROM_URL]), env: {} };
  if (!release) throw new Error("replicaCommand: a release is needed");
  const bin = `/app/bin/${release.name}`;
  switch (command.kind) {
    case "console":
      return { argv: wrap([bin, release.distillery ? "remote_console" : "remote"]), env: {} };
    case "rpc":
    case "eval":
      return { argv: wrap([bin, command.kind, command.expr]), env: {} };
    case "migrate":
      return { argv: wrap([bin, "eval", MIGRATE_EXPR]), env: { BEAMSTALK_MIGRATION_APP: command.migrationApp ?? release.name } };
    case "observer":
      throw new Error("replicaCommand: an observer session runs no command of its own (observer-channel.ts)");
  }
}
