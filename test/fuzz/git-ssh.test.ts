import { expect, test } from "bun:test";
import { parseGitPath } from "../../src/git/http-path.ts";
import { parseRefUpdates } from "../../src/git/push-protocol.ts";
import { safeGitProtocol } from "../../src/git/access.ts";
import { parseGitCommand } from "../../src/ssh/git-command.ts";
import { MAX_EXPR_BYTES, OTP_APP, parseOpsCommand, REPLICA_NAME } from "../../src/ssh/ops-command.ts";
import { PROFILE_THEN_EXEC, replicaCommand } from "../../src/ssh/release-command.ts";
import { parseForwardHost } from "../../src/ssh/tunnels.ts";
import { fuzz, mutate, type Rng } from "../support/fuzz.ts";

const APP = /^[a-z][a-z0-9-]{1,62}$/;

/** Pieces that try to escape: traversal, option injection, NUL, quoting, encodings. */
const ESCAPES = ["../", "..", "/..", "%2e%2e%2f", "%2E%2E/", "..%2f", "%2f", "%00", "\0", "--upload-pack=touch /tmp/x", "-h", "--", "'", "\"", " ", "\t", "\n", ";id", "$(id)", "`id`", "|", "&", "\\", "//", ".git", ".git.git", "~", "*", "?", "#", "%", "é", "A", "\u202e"];

function escaping(rng: Rng, seeds: readonly string[]): string {
  let bytes: Buffer = Buffer.from(rng.pick(seeds), "utf8");
  for (let i = 1 + rng.int(4); i > 0; i--) bytes = mutate(rng, bytes, ESCAPES);
  return bytes.toString(rng.chance(0.5) ? "utf8" : "latin1");
}

test("SSH git commands: anything accepted names a valid app and one of the two services, in exactly git's spelling", async () => {
  const seeds = ["git-receive-pack '/shop.git'", "git-upload-pack 'shop.git'", "git-upload-pack 'shop'", "git-receive-pack '/my-app'"];
  let accepted = 0;
  const n = await fuzz("ssh git command", (rng) => {
    const command = escaping(rng, seeds);
    const parsed = parseGitCommand(command);
    if (parsed === null) return;
    accepted++;
    expect(parsed.app).toMatch(APP);
    expect(["git-receive-pack", "git-upload-pack"]).toContain(parsed.service);
    expect([`${parsed.service} '/${parsed.app}.git'`, `${parsed.service} '${parsed.app}.git'`, `${parsed.service} '/${parsed.app}'`, `${parsed.service} '${parsed.app}'`]).toContain(command);
  });
  console.log(`  ${accepted} accepted`);
  expect(n).toBeGreaterThan(1000);
  expect(accepted).toBeGreaterThan(0);
});

test("SSH ops commands: what is accepted has a valid app, replica and migration app, no NUL, and becomes an argv with the expression as one element", async () => {
  const seeds = ['["rpc","shop","IO.puts(1)"]', '["console","shop","web.1"]', "console shop web.1", "rpc shop IO.puts(1)", "eval shop 1+1", '["migrate","shop","--migration-app","my_app"]', "migrate shop --migration-app=my_app", "ssh shop", "psql shop web.2", '["eval","shop","x","--replica","web.1"]'];
  let accepted = 0;
  const n = await fuzz("ssh ops command", (rng) => {
    const command = escaping(rng, seeds);
    const parsed = parseOpsCommand(command);
    if (parsed === null || !parsed.ok) return;
    accepted++;
    const c = parsed.command;
    expect(c.app).toMatch(APP);
    if ("replica" in c && c.replica !== undefined) expect(c.replica).toMatch(REPLICA_NAME);
    if (c.kind === "migrate" && c.migrationApp !== undefined) expect(c.migrationApp).toMatch(OTP_APP);
    if (c.kind === "rpc" || c.kind === "eval") {
      expect(c.expr).not.toContain("\0");
      expect(Buffer.byteLength(c.expr)).toBeLessThanOrEqual(MAX_EXPR_BYTES);
    }
    if (c.kind === "observer") return;
    const { argv } = replicaCommand(c, { name: "shop", distillery: false });
    // Never a shell string with input in it: the script is fixed, input only ever a separate argv element after it.
    expect(argv.slice(0, 4)).toEqual(["/bin/bash", "-c", PROFILE_THEN_EXEC, "beamstalk"]);
    if (c.kind === "rpc" || c.kind === "eval") expect(argv.slice(4)).toEqual(["/app/bin/shop", c.kind, c.expr]);
  });
  console.log(`  ${accepted} accepted`);
  expect(n).toBeGreaterThan(1000);
  expect(accepted).toBeGreaterThan(0);
});

test("smart HTTP paths: what is served names one valid app in one segment, whatever the encoding", async () => {
  const seeds = ["/shop.git/info/refs?service=git-upload-pack", "/shop.git/git-receive-pack", "/shop/git-upload-pack", "/shop.git/info/refs?service=git-receive-pack"];
  let accepted = 0;
  const n = await fuzz("git http path", (rng) => {
    const url = escaping(rng, seeds);
    const method = rng.pick(["GET", "POST", "HEAD", "PUT"]);
    const parsed = parseGitPath(method, url);
    if (parsed === null || !parsed.ok) {
      if (parsed !== null) expect([400, 405]).toContain(parsed.status);
      return;
    }
    accepted++;
    expect(parsed.route.app).toMatch(APP);
    expect(["git-receive-pack", "git-upload-pack"]).toContain(parsed.route.service);
  });
  console.log(`  ${accepted} accepted`);
  expect(n).toBeGreaterThan(1000);
  expect(accepted).toBeGreaterThan(0);
});

test("ref updates, port-forward hosts and GIT_PROTOCOL: hostile input is refused or comes out within the grammar", async () => {
  const sha = "a".repeat(40);
  const n = await fuzz("refs, forward hosts, git protocol", (rng) => {
    const line = escaping(rng, [`${sha} ${"b".repeat(40)} refs/heads/main\n`, `${"0".repeat(40)} ${sha} refs/heads/../../x\n`]);
    let refs: ReturnType<typeof parseRefUpdates> = [];
    try {
      refs = parseRefUpdates(line);
    } catch (error) {
      expect((error as Error).message).toStartWith("unexpected ref update line");
    }
    for (const ref of refs) {
      expect(ref.old).toMatch(/^[0-9a-f]{40}([0-9a-f]{24})?$/);
      expect(ref.new).toMatch(/^[0-9a-f]{40}([0-9a-f]{24})?$/);
      expect(ref.ref).toStartWith("refs/");
      expect(ref.ref).not.toMatch(/[\x00-\x20\x7f]|\.\./);
    }
    const host = parseForwardHost(escaping(rng, ["web.1.shop", "shop", "worker.12.my-app"]));
    if (host !== null) {
      expect(host.app).toMatch(APP);
      if (host.replica !== undefined) expect(host.replica).toMatch(REPLICA_NAME);
    }
    const protocol = safeGitProtocol(escaping(rng, ["version=2", "version=2:object-format=sha1"]));
    if (protocol !== undefined) expect(protocol).toMatch(/^[A-Za-z0-9=:._-]{1,256}$/);
  });
  expect(n).toBeGreaterThan(1000);
});
