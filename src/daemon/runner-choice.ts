import { BeamstalkError } from "../lib/errors.ts";
import type { State } from "../state/index.ts";
import type { RunnerKind } from "./options.ts";

const KEY = "runner";

/**
 * The runner a server's apps live on is part of its state: their networks,
 * replicas and databases exist on that engine only. A server that has apps
 * keeps its runner; switching is refused with how to move them.
 */
export function checkRunnerChoice(state: State, wanted: RunnerKind): void {
  const current = (state.settings.get(KEY) as RunnerKind | null) ?? "docker";
  if (current !== wanted && state.apps.count() > 0) {
    throw new BeamstalkError(
      "conflict",
      `this server runs its apps with --runner ${current}; it cannot start with --runner ${wanted} while it has apps (${state.apps.count()})`,
      `start it with --runner ${current}, or move the apps: see ${wanted === "k3s" || current === "k3s" ? '"Beamstalk on k3s"' : '"More than one host"'} in the README`,
    );
  }
  state.settings.set(KEY, wanted);
}
