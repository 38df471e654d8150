import type { ReleaseCommand } from "../lib/app-manifest.ts";
import type { Logger } from "../lib/logger.ts";
import type { JobSpec, Runner } from "../runner/types.ts";
import { DeployError } from "./errors.ts";
import { lineSplitter, shellCommand } from "./job-lines.ts";
import type { RolloutPlan } from "./rollout.ts";

export interface PhaseDeps {
  runner: Pick<Runner, "runJob">;
  logger: Logger;
}

export interface PhaseRun {
  plan: RolloutPlan;
  /** Bound of each command. */
  timeoutMs: number;
  /** Each output line, already redacted by the caller's `out`. */
  out: (line: string) => void;
}

/** The one-off job a release's command runs as: the release's slug, image and environment, like a replica's. */
export function phaseJob(plan: RolloutPlan, command: string): JobSpec {
  return {
    app: plan.app,
    release: plan.release,
    image: plan.image,
    argv: shellCommand(command),
    slugPath: plan.slugPath,
    ...(plan.slugUrl ? { slugUrl: plan.slugUrl } : {}),
    env: plan.env,
    size: 1,
  };
}

/**
 * The release phase (Heroku's, Dokku's `release` and `predeploy`): each command
 * once, in order, in a one-off job of the new release, before any of its
 * replicas starts. A non-zero exit or a run past the time limit throws a
 * DeployError saying which: the caller fails the release and nothing running changes.
 */
export async function runReleasePhase(deps: PhaseDeps, commands: ReleaseCommand[], run: PhaseRun): Promise<void> {
  for (const step of commands) {
    const began = performance.now();
    run.out(`-----> Running the release phase (${step.source}): ${step.command}`);
    const exit = await runCommand(deps, run, step.command);
    const seconds = ((performance.now() - began) / 1000).toFixed(1);
    deps.logger.info("deploy.release_phase", { app: run.plan.app, release: run.plan.release, source: step.source, exit: exit.exitCode, timed_out: exit.timedOut, ms: Math.round(performance.now() - began) });
    if (exit.timedOut) throw new DeployError(`release phase (${step.source}) ran past its time limit of ${Math.round(run.timeoutMs / 1000)} s and was stopped; v${run.plan.release} was not released (BEAMSTALK_RELEASE_TIMEOUT sets the limit in seconds)`);
    if (exit.exitCode !== 0) throw new DeployError(`release phase (${step.source}) failed with exit code ${exit.exitCode}; v${run.plan.release} was not released`);
    run.out(`       release phase done in ${seconds} s`);
  }
}

/** The post-deploy script (app.json scripts.dokku.postdeploy): after the rollout; reported, and it cannot undo it. */
export async function runPostdeploy(deps: PhaseDeps, command: string, run: PhaseRun): Promise<number> {
  run.out(`-----> Post-deploy (app.json scripts.dokku.postdeploy): ${command}`);
  const exit = await runCommand(deps, run, command).catch((err: Error) => {
    run.out(`!     post-deploy could not run: ${err.message}`);
    return null;
  });
  if (!exit) return -1;
  if (exit.timedOut) run.out(`!     post-deploy ran past ${Math.round(run.timeoutMs / 1000)} s and was stopped; v${run.plan.release} stays live`);
  else if (exit.exitCode !== 0) run.out(`!     post-deploy failed with exit code ${exit.exitCode}; v${run.plan.release} stays live`);
  else run.out("       post-deploy done");
  return exit.timedOut ? 124 : exit.exitCode;
}

async function runCommand(deps: PhaseDeps, run: PhaseRun, command: string) {
  const lines = lineSplitter((line) => run.out(`       ${line}`));
  try {
    return await deps.runner.runJob(phaseJob(run.plan, command), { timeoutMs: run.timeoutMs, onOutput: (chunk) => lines.write(chunk) });
  } finally {
    lines.flush();
  }
}
