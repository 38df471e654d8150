import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Docker from "dockerode";
import { build } from "../../src/builder/index.ts";
import type { Authorization, GitNeed, GitUser } from "../../src/git/access.ts";
import { exec } from "../../src/lib/exec.ts";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import { Secret } from "../../src/lib/secret.ts";
import { DockerRunner } from "../../src/runner/docker/runner.ts";
import type { Replica } from "../../src/runner/types.ts";
import { PROFILE_THEN_EXEC } from "../../src/ssh/release-command.ts";
import { startSshServer, type SshServer } from "../../src/ssh/server.ts";
import { RUN_IMAGE } from "../../src/stack/images.ts";
import { parsePublicKey } from "../../src/state/ssh-keys.ts";

/**
 * A real Elixir release (the hello fixture plus Hello.Release.migrate/0, built
 * once by the builder), two replicas started by DockerRunner, and the SSH server
 * with in-test users, keys and roles. Every Docker object carries
 * beamstalk.test=<run id>; stop() removes them.
 */
export const RUN = `bso${Math.random().toString(36).slice(2, 7)}`;
export const APP = `${RUN}-shop`;
export const OTHER_APP = `${RUN}-other`;
export const LABELS = { "beamstalk.test": RUN };

export const owner: GitUser = { id: 1, email: "owner@example.com" };
export const viewer: GitUser = { id: 2, email: "viewer@example.com" };
export const collaborator: GitUser = { id: 3, email: "collab@example.com" };
export const stranger: GitUser = { id: 4, email: "stranger@example.com" };
export const USERS = { owner, viewer, collaborator, stranger };
export type Who = keyof typeof USERS;

const ROLES: Record<string, Record<number, "owner" | "collaborator" | "viewer">> = {
  [APP]: { [owner.id]: "owner", [viewer.id]: "viewer", [collaborator.id]: "collaborator" },
  [OTHER_APP]: { [stranger.id]: "owner" },
};

export function authorize(user: GitUser, app: string, need: GitNeed): Authorization {
  const role = ROLES[app]?.[user.id];
  if (!role) return "not_found";
  if (need === "write" && role === "viewer") return "forbidden";
  return "ok";
}

export interface ActivityRecord {
  app: string;
  userId: number;
  action: string;
  detail: string;
}

const RELEASE_EX = `defmodule Hello.Release do
  def migrate do
    IO.puts("migrated by Hello.Release.migrate/0 for " <> System.fetch_env!("BEAMSTALK_MIGRATION_APP"))
  end
end
`;

export interface OpsFixture {
  root: string;
  ssh: SshServer;
  runner: DockerRunner;
  replicas: Replica[];
  activity: ActivityRecord[];
  logLines: string[];
  /** `ssh` argv up to (and including) the host, for a user's key. */
  sshArgs(who: Who, extra?: string[]): string[];
  /** An ssh_config file for a user (for the CLI's BEAMSTALK_SSH_CONFIG). */
  sshConfig(who: Who): string;
  runSsh(who: Who, args: string[], options?: { stdin?: string }): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

export async function createOpsFixture(): Promise<OpsFixture> {
  const root = mkdtempSync(join(tmpdir(), `beamstalk-${RUN}-`));
  const docker = new Docker({ socketPath: "/var/run/docker.sock" });
  const logger = createMemoryLogger();
  const activity: ActivityRecord[] = [];
  const keys: Record<string, string> = {};
  const byFingerprint = new Map<string, GitUser>();
  const cleanup = async () => {
    for (const c of await docker.listContainers({ all: true, filters: { label: [`beamstalk.test=${RUN}`] } })) {
      await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
    }
    for (const n of await docker.listNetworks({ filters: { label: [`beamstalk.test=${RUN}`] } })) {
      await docker.getNetwork(n.Id).remove().catch(() => {});
    }
    rmSync(root, { recursive: true, force: true });
  };

  try {
    for (const who of [...Object.keys(USERS), "nobody"]) {
      const path = join(root, "keys", `id_${who}`);
      mkdirSync(join(root, "keys"), { recursive: true });
      const res = await exec(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f", path]);
      if (res.code !== 0) throw new Error(res.stderr);
      keys[who] = path;
      const user = USERS[who as Who];
      if (user) byFingerprint.set(parsePublicKey(readFileSync(`${path}.pub`, "utf8")).fingerprint, user);
    }

    const source = join(root, "src", "hello");
    cpSync(resolve(import.meta.dir, "../fixtures/apps/hello"), source, { recursive: true });
    writeFileSync(join(source, "lib/hello/release.ex"), RELEASE_EX);
    const began = performance.now();
    const built = await build({ app: APP, sourceDir: source, cacheDir: join(root, "cache"), slugDir: join(root, "slugs"), env: {}, workDir: root });
    console.log(`[ops] built the hello release in ${((performance.now() - began) / 1000).toFixed(1)} s`);

    const runner = new DockerRunner({ bootDir: join(root, "runner"), logger, labels: LABELS, bootTimeoutMs: 60_000, bootCpus: 1 });
    const cookie = new Secret(crypto.randomUUID());
    const replicas: Replica[] = [];
    for (const index of [1, 2]) {
      replicas.push(
        await runner.start({
          app: APP, release: 3, process: "web", index, image: RUN_IMAGE, command: built.processTypes.web!, slugPath: built.slug.path,
          env: { RELEASE_COOKIE: cookie, RELEASE_DISTRIBUTION: "name" }, port: 4000, size: 0.5,
        }),
      );
    }
    await waitForNode(runner, replicas[0]!.id);

    const ssh = await startSshServer({
      dataDir: join(root, "data"),
      host: "127.0.0.1",
      port: 0,
      logger,
      userForFingerprint: (fp) => byFingerprint.get(fp) ?? null,
      authorize,
      appExists: (app) => app in ROLES,
      reposDir: join(root, "repos"),
      hookCommand: ["false"],
      hookEnv: () => ({}),
      ops: { runner, recordActivity: (app, user, action, detail) => activity.push({ app, userId: user.id, action, detail }) },
    });

    const knownHosts = join(root, "known_hosts");
    const sshOptions = (who: string) => [
      "-i", keys[who]!, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
      "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "LogLevel=ERROR", "-p", String(ssh.port),
    ];
    const sshArgs = (who: Who, extra: string[] = []) => ["ssh", "-F", "/dev/null", ...sshOptions(who), ...extra, "git@127.0.0.1"];
    return {
      root,
      ssh,
      runner,
      replicas,
      activity,
      logLines: logger.lines,
      sshArgs,
      sshConfig(who) {
        const path = join(root, `ssh_config_${who}`);
        writeFileSync(path, `Host *\n  IdentityFile ${keys[who]}\n  IdentitiesOnly yes\n  BatchMode yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile ${knownHosts}\n  LogLevel ERROR\n`);
        return path;
      },
      runSsh: (who, args, options = {}) => exec([...sshArgs(who), ...args], { stdin: options.stdin ?? "", timeoutMs: 60_000 }),
      async stop() {
        await ssh.stop();
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/**
 * The replica's BEAM is up (and distribution with it) once `bin/hello pid` answers,
 * run as the ops commands run it: with the node name the boot script wrote (node.env).
 */
async function waitForNode(runner: DockerRunner, id: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const proc = await runner.exec(id, ["/bin/bash", "-c", PROFILE_THEN_EXEC, "beamstalk", "/app/bin/hello", "pid"], { tty: false });
    proc.stdin.end();
    proc.stdout.resume();
    proc.stderr.resume();
    if ((await proc.exited) === 0) return;
    await Bun.sleep(200);
  }
  throw new Error("the hello node did not come up");
}
