import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { PSQL_FROM_URL } from "../../src/lib/psql.ts";
import { BINARY, CliUser, type RunningDaemon, startDaemon } from "../support/daemon.ts";
import { createFixtureApp, removeAppContainers, sshConfigFor } from "../support/fixture-app.ts";
import { testRunner } from "../support/target.ts";

/** Managed PostgreSQL through the daemon: the app's own containers reach it by DATABASE_URL. */
const APP = `pg-${Math.random().toString(36).slice(2, 8)}`;
const LONG = 6 * 60_000;
let daemon: RunningDaemon;
let owner: CliUser;

/** SQL run by a one-off job in the app's release, connecting with its DATABASE_URL (the script pg:psql uses). */
const sql = (query: string) => owner.ok(["run", "-a", APP, "--", "bash", "-c", PSQL_FROM_URL, "psql", "-tA", "-v", "ON_ERROR_STOP=1", "-c", query]);
/** The same on the read replica, by DATABASE_READ_REPLICA_URL. */
const replicaArgv = (query: string) => ["run", "-a", APP, "--", "bash", "-c", `DATABASE_URL="$DATABASE_READ_REPLICA_URL"\n${PSQL_FROM_URL}`, "psql", "-tA", "-v", "ON_ERROR_STOP=1", "-c", query];

beforeAll(async () => {
  daemon = await startDaemon();
  owner = new CliUser(daemon.url);
  await owner.ok(["signup", "--email", "pg@example.com", "--socket", daemon.socket], { env: { BEAMSTALK_PASSWORD: "correct horse" } });
  await (await createFixtureApp(owner, APP)).push();
}, LONG);

afterAll(async () => {
  await owner?.run(["apps:destroy", "-a", APP, "--confirm", APP]);
  await daemon?.stop();
  removeAppContainers(APP);
  owner?.cleanup();
}, LONG);

describe("managed PostgreSQL through the daemon", () => {
  test("pg:create sets DATABASE_URL with a rolling restart; the app's jobs write rows", async () => {
    // A host that is not there (on one host, --node itself) is refused, and nothing is made.
    const elsewhere = await owner.run(["pg:create", "-a", APP, "--node", "elsewhere"]);
    expect(elsewhere.code).not.toBe(0);
    expect(elsewhere.stderr).toContain(testRunner() === "swarm" ? 'no host "elsewhere" in the Swarm' : "--node needs the Swarm runner");
    expect((await owner.run(["pg", "-a", APP])).stderr).toContain("has no database");
    await owner.ok(["pg:create", "-a", APP]);
    const config = JSON.parse(await owner.ok(["config", "-a", APP, "--json"]));
    expect(config.DATABASE_URL).toMatch(new RegExp(`^postgres(ql)?://[^:]+:[^@]+@db\\.${APP}\\.internal:5432/`));
    const releases = JSON.parse(await owner.ok(["releases", "-a", APP, "--json"]));
    expect(releases[0]).toMatchObject({ status: "succeeded" });
    const info = JSON.parse(await owner.ok(["pg", "-a", APP, "--json"]));
    expect(info).toMatchObject({ state: "available", version: expect.anything(), node: null });
    await sql("CREATE TABLE items (n int); INSERT INTO items SELECT generate_series(1, 500);");
    expect((await sql("SELECT count(*) FROM items")).trim()).toBe("500");
    expect(daemon.log()).not.toContain(config.DATABASE_URL.split("@")[0].split(":").at(-1));
  }, LONG);

  test("capture, delete, restore: the rows are back", async () => {
    await owner.ok(["pg:backups:capture", "-a", APP]);
    const backups = JSON.parse(await owner.ok(["pg:backups", "-a", APP, "--json"]));
    expect(backups[0]).toMatchObject({ status: "succeeded" });
    // At rest it is encrypted under the master key's backup key: not a readable pg_dump archive.
    const stored = readFileSync(join(daemon.dataDir, "backups", APP, `${backups[0].id}.dump`));
    expect(stored.subarray(0, 8).toString("latin1")).toBe("BSTKBK1\n");
    expect(stored.includes(Buffer.from("PGDMP"))).toBe(false);
    await sql("DELETE FROM items WHERE n > 100");
    expect((await sql("SELECT count(*) FROM items")).trim()).toBe("100");
    await owner.ok(["pg:backups:restore", "-a", APP, String(backups[0].id)]);
    expect((await sql("SELECT count(*) FROM items")).trim()).toBe("500");
  }, LONG);

  test("pg:psql on a terminal opens psql over SSH inside a replica; the password is on no command line", async () => {
    const config = await sshConfigFor(owner);
    const proc = Bun.spawn(["python3", resolve(import.meta.dir, "../fixtures/on_terminal.py"), BINARY, "pg:psql", "-a", APP], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: owner.home, BEAMSTALK_URL: daemon.url, BEAMSTALK_SSH_CONFIG: config, TERM: "dumb" },
      stdin: new Blob([JSON.stringify([["=>", "SELECT count(*) AS n FROM items;"], ["(1 row)", "\\q"]])]),
      stdout: "pipe",
      stderr: "pipe",
    });
    const [screen, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(code).toBe(0);
    expect(screen).toMatch(/\b500\b/);
    const url = JSON.parse(await owner.ok(["config", "-a", APP, "--json"])).DATABASE_URL as string;
    expect(screen).not.toContain(url.split("@")[0]!.split(":").at(-1)!);
    expect(await owner.ok(["apps:activity", "-a", APP])).toContain("Opened psql on web.1");
  }, LONG);

  test("pg:backups:download writes the plain pg_dump archive, which pg_restore reads; it never overwrites a file", async () => {
    const [backup] = JSON.parse(await owner.ok(["pg:backups", "-a", APP, "--json"])) as { id: number; status: string }[];
    expect(backup?.status).toBe("succeeded");
    const file = join(owner.home, "backup.dump");
    const said = await owner.run(["pg:backups:download", "-a", APP, String(backup!.id), "--output", file]);
    expect(said.code).toBe(0);
    const archive = readFileSync(file);
    expect(archive.subarray(0, 5).toString("latin1")).toBe("PGDMP");
    expect(said.stderr + said.stdout).toContain(`sha256 ${new Bun.CryptoHasher("sha256").update(archive).digest("hex")}`);
    const listing = Bun.spawnSync(["pg_restore", "--list", file]);
    expect(listing.exitCode).toBe(0);
    expect(listing.stdout.toString()).toMatch(/TABLE public items/);
    // Asked again for the same file: refused, and the file is as it was.
    const again = await owner.run(["pg:backups:download", "-a", APP, String(backup!.id), "--output", file]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain("already exists");
    expect(readFileSync(file).equals(archive)).toBe(true);
    const missing = await owner.run(["pg:backups:download", "-a", APP, "9999", "--output", join(owner.home, "none.dump")]);
    expect(missing.stderr).toContain("has no backup #9999");
    expect(existsSync(join(owner.home, "none.dump"))).toBe(false);
    expect(readdirSync(owner.home).filter((f) => f.includes(".part-"))).toEqual([]);
  }, LONG);

  test("pg:stop keeps the database stopped (the watch leaves it); pg:start and pg:restart bring it back with its rows; pg:upgrade explains", async () => {
    const state = async () => JSON.parse(await owner.ok(["pg", "-a", APP, "--json"])) as { state: string; container: string; version: number };
    await owner.ok(["pg:stop", "-a", APP]);
    expect(await state()).toMatchObject({ state: "stopped", container: "exited" });
    const twice = await owner.run(["pg:stop", "-a", APP]);
    expect(twice.code).not.toBe(0);
    expect(twice.stderr).toContain("is stopped");
    expect(twice.stderr).toContain("pg:start");
    expect((await owner.run(["pg:restart", "-a", APP])).stderr).toContain("cannot be restarted");
    // The watch (every 10 s) revives a database that died, not one that was stopped.
    await Bun.sleep(11_000);
    expect(await state()).toMatchObject({ state: "stopped", container: "exited" });
    await owner.ok(["pg:start", "-a", APP]);
    expect(await state()).toMatchObject({ state: "available", container: "running" });
    expect((await sql("SELECT count(*) FROM items")).trim()).toBe("500");
    expect((await owner.run(["pg:start", "-a", APP])).stderr).toContain("is available");
    await owner.ok(["pg:restart", "-a", APP]);
    expect((await sql("SELECT count(*) FROM items")).trim()).toBe("500");
    const activity = await owner.ok(["apps:activity", "-a", APP]);
    for (const done of ["Stopped PostgreSQL database", "Started PostgreSQL database", "Restarted PostgreSQL database"]) expect(activity).toContain(done);
    const { version } = await state();
    const upgrade = await owner.run(["pg:upgrade", "-a", APP, "--version", String(version + 1)]);
    expect(upgrade.code).not.toBe(0);
    expect(upgrade.stderr).toContain(`PostgreSQL ${version + 1} is not available on this server`);
    expect((await owner.run(["pg:upgrade", "-a", APP, "--version", String(version)])).stderr).toContain(`already runs PostgreSQL ${version}`);
    expect((await owner.run(["pg:upgrade", "-a", APP, "--version", "x"])).stderr).toContain("give the major version");
    expect(await state()).toMatchObject({ state: "available", container: "running" });
  }, LONG);

  test("pg:read_replicas:create: a read-only replica that streams from the database, at DATABASE_READ_REPLICA_URL; refused while the database is stopped", async () => {
    const replicas = async () => JSON.parse(await owner.ok(["pg:read_replicas", "-a", APP, "--json"])) as { state: string; container: string; stream: string | null; lag_bytes: number | null }[];
    expect(await replicas()).toEqual([]);
    await owner.ok(["pg:stop", "-a", APP]);
    const down = await owner.run(["pg:read_replicas:create", "-a", APP]);
    expect(down.code).not.toBe(0);
    expect(down.stderr).toContain("a read replica needs it running");
    expect(await replicas()).toEqual([]);
    await owner.ok(["pg:start", "-a", APP]);

    await owner.ok(["pg:read_replicas:create", "-a", APP]);
    const config = JSON.parse(await owner.ok(["config", "-a", APP, "--json"]));
    expect(config.DATABASE_READ_REPLICA_URL).toMatch(new RegExp(`^postgres://[^:]+:[^@]+@db-replica\\.${APP}\\.internal:5432/`));
    expect((await owner.ok(replicaArgv("SELECT count(*) FROM items"))).trim()).toBe("500");
    // A write on the primary reaches the replica; a write on the replica is refused.
    await sql("INSERT INTO items VALUES (501)");
    let seen = "";
    for (let i = 0; i < 20 && seen !== "501"; i++) seen = (await owner.ok(replicaArgv("SELECT count(*) FROM items"))).trim();
    expect(seen).toBe("501");
    const write = await owner.run(replicaArgv("INSERT INTO items VALUES (502)"));
    expect(write.code).not.toBe(0);
    expect(write.stdout + write.stderr).toContain("read-only transaction");
    expect(await replicas()).toEqual([expect.objectContaining({ state: "available", container: "running", stream: "streaming" })]);
    const twice = await owner.run(["pg:read_replicas:create", "-a", APP]);
    expect(twice.stderr).toContain("already has a read replica");
    expect(daemon.log()).not.toContain(config.DATABASE_READ_REPLICA_URL.split("@")[0].split(":").at(-1));
  }, LONG);

  test("pg:destroy takes a final backup and unsets DATABASE_URL", async () => {
    expect((await owner.run(["pg:destroy", "-a", APP])).code).toBe(2);
    await owner.ok(["pg:destroy", "-a", APP, "--confirm", APP]);
    const config = JSON.parse(await owner.ok(["config", "-a", APP, "--json"]));
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.DATABASE_READ_REPLICA_URL).toBeUndefined();
    expect(Bun.spawnSync(["docker", "container", "inspect", `beamstalk-${APP}-postgres-replica`]).exitCode).not.toBe(0);
    const dir = join(daemon.dataDir, "backups", APP);
    expect(existsSync(dir) && readdirSync(dir).some((f) => f.endsWith(".dump"))).toBe(true);
  }, LONG);
});
