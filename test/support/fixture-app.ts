import { cpSync } from "node:fs";
import { join, resolve } from "node:path";
import { CliUser, type RunningDaemon, startDaemon, tempDir } from "./daemon.ts";
import { containersLabelled, dockerOn } from "./target.ts";

/** The plain OTP fixture app every end-to-end test deploys (no hex dependencies). */
export const FIXTURE = resolve(import.meta.dir, "../fixtures/apps/hello");

export interface Spawned {
  code: number;
  out: string;
  err: string;
}

/** Runs argv asynchronously (request loops keep running meanwhile) as the user: their HOME, no prompts. */
export async function spawnAs(user: CliUser, argv: string[], cwd: string, env: Record<string, string> = {}): Promise<Spawned> {
  const proc = Bun.spawn(argv, {
    cwd,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: user.home, GIT_TERMINAL_PROMPT: "0", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out, err };
}

export interface FixtureApp {
  repo: string;
  /** git in the app's repository, with a committer identity. */
  git(args: string[], env?: Record<string, string>): Promise<Spawned>;
  /** `git push beamstalk main`, failing with git's own output. */
  push(): Promise<Spawned>;
}

/** A copy of a fixture app (test/fixtures/apps/<fixture>, default hello) as a git repository with one commit, created as `app` (which adds the `beamstalk` remote). */
export async function createFixtureApp(user: CliUser, app: string, fixture = "hello"): Promise<FixtureApp> {
  const repo = join(tempDir("app"), app);
  cpSync(resolve(FIXTURE, "..", fixture), repo, { recursive: true });
  const git = (args: string[], env: Record<string, string> = {}) =>
    spawnAs(user, ["git", "-c", "user.email=dev@example.com", "-c", "user.name=dev", ...args], repo, env);
  for (const step of [["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "v1"]]) await git(step);
  await user.ok(["apps:create", app], { cwd: repo });
  return {
    repo,
    git,
    async push() {
      const res = await git(["push", "beamstalk", "main"]);
      if (res.code !== 0) throw new Error(`git push failed:\n${res.err}`);
      return res;
    },
  };
}

/** A fresh daemon, its first account (owner@example.com, the admin) claimed over the socket, and the fixture created as `app`. */
export async function daemonWithFixture(app: string): Promise<{ daemon: RunningDaemon; owner: CliUser; fixture: FixtureApp }> {
  const daemon = await startDaemon();
  const owner = new CliUser(daemon.url);
  await owner.ok(["signup", "--email", "owner@example.com", "--socket", daemon.socket], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
  return { daemon, owner, fixture: await createFixtureApp(owner, app) };
}

/** Gives the user an SSH key on the server and an ssh_config using it; returns the config's path (BEAMSTALK_SSH_CONFIG). */
export async function sshConfigFor(user: CliUser): Promise<string> {
  const key = join(user.home, "id_ed25519");
  Bun.spawnSync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key]);
  await user.ok(["account:ssh_keys:add", `${key}.pub`]);
  const config = join(user.home, "ssh_config");
  await Bun.write(config, `Host *\n  IdentityFile ${key}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n`);
  return config;
}

export { containersLabelled } from "./target.ts";

/** Removes whatever a test left of an app in Docker (its replicas, jobs, database, network), on every engine. */
export function removeAppContainers(app: string): void {
  for (const id of [...containersLabelled(`beamstalk.app=${app}`), ...containersLabelled(`beamstalk.postgres=${app}`)]) dockerOn(id, "rm", "-f", id);
  Bun.spawnSync(["docker", "network", "rm", `beamstalk-${app}`], { stderr: "ignore", stdout: "ignore" });
}

/** What an end-to-end file's afterAll does: destroy its apps through the CLI, stop the daemon, remove what Docker kept, drop the user's files. */
export async function tearDown(owner: CliUser | undefined, daemon: RunningDaemon | undefined, ...apps: string[]): Promise<void> {
  for (const app of apps) await owner?.run(["apps:destroy", "-a", app, "--confirm", app]);
  await daemon?.stop();
  for (const app of apps) removeAppContainers(app);
  owner?.cleanup();
}
