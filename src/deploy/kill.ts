import { notFound } from "../lib/errors.ts";
import type { Runner } from "../runner/types.ts";
import type { App, State, User } from "../state/index.ts";
import { execOutput } from "./beam.ts";

/**
 * SIGKILL to every process of the app user (uid 1000) inside the replica: the release and
 * all it started. kill(-1) spares the calling shell and the container's init (tini, root),
 * which then sees its child die and exits, as in a crash. A constant script, no input in it.
 */
export const KILL_ARGV = ["/bin/bash", "-c", "kill -KILL -1"] as const;

export interface KillDeps {
  runner: Pick<Runner, "list" | "exec">;
  state: Pick<State, "activity">;
  logs?: { platform(app: string, line: string): void };
}

/**
 * `ps:kill web.1`: the replica dies as if it crashed, and comes back the way a crashed one
 * does (the engine's restart policy, else the supervisor). Nothing else changes.
 */
export async function killReplica(deps: KillDeps, app: App, user: User, name: string): Promise<string> {
  const running = (await deps.runner.list(app.name))
    .filter((r) => r.state === "running" && `${r.process}.${r.index}` === name)
    .sort((a, b) => b.release - a.release);
  const replica = running[0];
  if (!replica) throw notFound(`${app.name} has no running replica ${name}`, "`beamstalk ps` lists them");
  // The session ends with the container; its exit code says nothing either way.
  await execOutput(deps.runner, replica.id, [...KILL_ARGV], 10_000);
  deps.state.activity.record(app.id, user.id, "ps.kill", `Killed ${name}`);
  deps.logs?.platform(app.name, `${name} killed (by ${user.email})`);
  return replica.id;
}
