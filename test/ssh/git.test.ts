import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { GitUser } from "../../src/git/access.ts";
import { HOST_KEY_FILE } from "../../src/ssh/host-key.ts";
import { startSshServer, type SshServer, type SshServerOptions } from "../../src/ssh/server.ts";
import { exec } from "../../src/lib/exec.ts";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import { parsePublicKey } from "../../src/state/ssh-keys.ts";
import { alice, appExists, authorize, bob, createGitFixture, type GitFixture, HOOK_COMMAND } from "../git/fixture.ts";

let fx: GitFixture;
let ssh: SshServer;
let work: string;
const keys: Record<string, string> = {};
const owners = new Map<string, GitUser>();
const logger = createMemoryLogger();

const sshArgs = (who: string) => [
  "-F", "/dev/null", "-i", keys[who]!, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
  "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-p", String(ssh.port),
];
const sshEnv = (who: string) => ({ GIT_SSH_COMMAND: ["ssh", ...sshArgs(who)].join(" ") });
const runSsh = (who: string, args: string[]) => exec(["ssh", ...sshArgs(who), ...args], { stdin: "", timeoutMs: 30_000 });

async function startServer(overrides: Partial<SshServerOptions> = {}): Promise<SshServer> {
  return startSshServer({
    dataDir: fx.dataDir,
    host: "127.0.0.1",
    port: 0,
    logger,
    userForFingerprint: (fp) => owners.get(fp) ?? null,
    authorize,
    appExists,
    reposDir: fx.reposDir,
    hookCommand: HOOK_COMMAND,
    hookEnv: () => fx.hookEnv(),
    ...overrides,
  });
}

beforeAll(async () => {
  fx = await createGitFixture("git-ssh");
  for (const who of ["alice", "bob", "stranger"]) {
    const path = join(fx.root, `id_${who}`);
    const res = await exec(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f", path]);
    if (res.code !== 0) throw new Error(res.stderr);
    keys[who] = path;
  }
  owners.set(parsePublicKey(readFileSync(`${keys.alice}.pub`, "utf8")).fingerprint, alice);
  owners.set(parsePublicKey(readFileSync(`${keys.bob}.pub`, "utf8")).fingerprint, bob);
  ssh = await startServer();
  work = await fx.workRepo("shop");
});

afterAll(async () => {
  await ssh?.stop();
  await fx?.stop();
});

describe("git over SSH", () => {
  test("the host key is generated once, mode 0600, and reused", async () => {
    const path = join(fx.dataDir, HOST_KEY_FILE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const before = readFileSync(path, "utf8");
    await ssh.stop();
    ssh = await startServer();
    expect(readFileSync(path, "utf8")).toBe(before);
  });

  test("push main (scp-style URL): the hook sees the push as the key's owner, output arrives as remote: lines", async () => {
    fx.script.lines = ["-----> Building shop over ssh", "-----> Released"];
    fx.script.delayMs = 200;
    fx.script.exit = 0;
    const sha = (await fx.git(work, ["rev-parse", "HEAD"])).stdout.trim();
    const res = await fx.git(work, ["push", "git@127.0.0.1:shop.git", "main"], sshEnv("alice"));
    expect(res.stderr).toContain("remote: -----> Building shop over ssh");
    expect(res.code).toBe(0);
    const push = fx.pushes.at(-1)!;
    expect(push.body).toMatchObject({ app: "shop", userId: alice.id, refs: [{ new: sha, ref: "refs/heads/main" }], clean: false });
    expect(push.archiveCodes).toEqual([0]);
    expect(push.files["refs/heads/main"]).toEqual(["mix.exs"]);
    fx.script.delayMs = 0;
  });

  test("ssh:// URL with a leading slash, push options, force push", async () => {
    const port = ssh.port;
    await fx.commit(work, "x.txt", "x\n");
    await fx.git(work, ["commit", "-q", "--amend", "-m", "amended"]);
    const res = await fx.git(work, ["push", "--force", "-o", "clean", `ssh://git@127.0.0.1:${port}/shop.git`, "main"], {
      GIT_SSH_COMMAND: ["ssh", ...sshArgs("alice").slice(0, -2)].join(" "),
    });
    expect(res.code).toBe(0);
    expect(fx.pushes.at(-1)!.body.pushOptions).toEqual(["clean"]);
    expect(fx.pushes.at(-1)!.body.clean).toBe(true);
  });

  test("a failing build rejects the push and its lines show", async () => {
    fx.script.lines = [" !     build failed"];
    fx.script.exit = 1;
    await fx.commit(work, "y.txt", "y\n");
    const res = await fx.git(work, ["push", "git@127.0.0.1:shop.git", "main"], sshEnv("alice"));
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("remote:  !     build failed");
    expect(res.stderr).toContain("pre-receive hook declined");
    fx.script.exit = 0;
  });

  test("a viewer may clone and fetch (v0 and v2) but not push", async () => {
    const dest = join(fx.root, "work", "bob-clone");
    const clone = await fx.git(fx.root, ["clone", "-q", "git@127.0.0.1:/shop.git", dest], sshEnv("bob"));
    expect(clone.code).toBe(0);
    expect(existsSync(join(dest, "mix.exs"))).toBe(true);
    const v2 = await fx.git(dest, ["-c", "protocol.version=2", "fetch", "-q", "origin"], sshEnv("bob"));
    expect(v2.code).toBe(0);
    await fx.commit(dest, "bob.txt", "bob\n");
    const count = fx.pushes.length;
    const push = await fx.git(dest, ["push", "origin", "main"], sshEnv("bob"));
    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain("does not allow pushing");
    expect(fx.pushes.length).toBe(count);
  });

  test("another user's app and an unknown app: not found, nothing created", async () => {
    const other = await fx.git(fx.root, ["clone", "-q", "git@127.0.0.1:other-app.git", join(fx.root, "work", "x1")], sshEnv("bob"));
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain("app other-app not found");
    const unknown = await fx.git(work, ["push", "git@127.0.0.1:nope-app.git", "main"], sshEnv("alice"));
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("app nope-app not found");
    expect(existsSync(join(fx.reposDir, "nope-app.git"))).toBe(false);
    expect(existsSync(join(fx.reposDir, "other-app.git"))).toBe(false);
  });

  test("an unknown key is refused", async () => {
    const res = await fx.git(work, ["push", "git@127.0.0.1:shop.git", "main"], sshEnv("stranger"));
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("Permission denied (publickey)");
  });

  test("password auth is refused", async () => {
    const res = await exec(
      ["ssh", ...sshArgs("alice"), "-o", "PreferredAuthentications=password,keyboard-interactive", "127.0.0.1", "git-upload-pack 'shop.git'"],
      { stdin: "", timeoutMs: 30_000 },
    );
    expect(res.code).toBe(255);
    expect(res.stderr).toContain("Permission denied");
  });

  test("a shell request gets the no-shell message and exit 1", async () => {
    const res = await runSsh("alice", ["-T", "127.0.0.1"]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("Beamstalk gives no shell; use git push");
    const pty = await runSsh("alice", ["-tt", "127.0.0.1"]);
    expect(pty.code).toBe(1);
    expect(pty.stdout + pty.stderr).toContain("Beamstalk gives no shell");
  });

  const OTHER = ["id", "sh -c id", "git-upload-archive 'shop.git'", "git-receive-pack '../shop.git'", "git-receive-pack '-h'",
    "git-upload-pack '--upload-pack=id'", "git-upload-pack 'shop.git'; id", "git-upload-pack \"shop.git\"", "git-upload-pack '$(id).git'",
    "git-receive-pack '/a;id.git'", "git-upload-pack '/shop.git/../../x'"];
  test.each(OTHER)("exec of %p is refused with the message, nothing created", async (command) => {
    const before = fx.tree(["work", "home"]);
    const res = await runSsh("alice", ["127.0.0.1", command]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("Beamstalk gives no shell; use git push");
    expect(res.stdout).toBe("");
    expect(fx.tree(["work", "home"])).toEqual(before);
  });

  test("a subsystem request is refused", async () => {
    const res = await runSsh("alice", ["-s", "127.0.0.1", "sftp"]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("Beamstalk gives no shell");
  });

  test("a transfer that stops moving is killed after the idle timeout", async () => {
    const stallLogger = createMemoryLogger();
    const slow = await startServer({ logger: stallLogger, idleTimeoutMs: 400 });
    try {
      const args = sshArgs("alice").slice(0, -1).concat(String(slow.port));
      const started = Date.now();
      const proc = Bun.spawn(["ssh", ...args, "127.0.0.1", "git-receive-pack 'shop.git'"], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
      const code = await proc.exited;
      expect(code).not.toBe(0);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(stallLogger.lines.some((l) => l.includes("git.ssh.stalled"))).toBe(true);
    } finally {
      await slow.stop();
    }
  });

  test("a user the server requires to turn on MFA first: git and the ops commands are refused with what to do", async () => {
    const strict = await startServer({ authorize: () => "mfa_setup" });
    try {
      const args = sshArgs("alice").slice(0, -1).concat(String(strict.port));
      const before = fx.pushes.length;
      const push = await fx.git(work, ["push", "git@127.0.0.1:shop.git", "main"], { GIT_SSH_COMMAND: ["ssh", ...args].join(" ") });
      expect(push.code).not.toBe(0);
      expect(push.stderr).toContain("requires multi-factor authentication, and your account does not have it on yet: run `beamstalk account:mfa:activate`");
      expect(fx.pushes.length).toBe(before);
      const console = await exec(["ssh", ...args, "127.0.0.1", "console shop"], { stdin: "", timeoutMs: 30_000 });
      expect(console.code).toBe(1);
      expect(console.stderr).toContain("beamstalk: this server requires multi-factor authentication");
    } finally {
      await strict.stop();
    }
  });

  test("port forwards are refused", async () => {
    const res = await runSsh("alice", ["-W", "127.0.0.1:22", "127.0.0.1"]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/open failed|prohibited|forwarding failed/);
  });
});
