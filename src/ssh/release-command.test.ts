import { expect, test } from "bun:test";
import type { Replica } from "../runner/types.ts";
import { pickReplica } from "./pick-replica.ts";
import { PSQL_FROM_URL } from "../lib/psql.ts";
import { MIGRATE_EXPR, PROFILE_THEN_EXEC, releaseFromBin, releaseFromFiles, replicaCommand } from "./release-command.ts";

const wrap = (...argv: string[]) => ["/bin/bash", "-c", PROFILE_THEN_EXEC, "beamstalk", ...argv];
const hello = { name: "hello", distillery: false };

test("the argv run in the replica, per command: user input only ever as its own element", () => {
  expect(replicaCommand({ kind: "ssh", app: "shop" }, null)).toEqual({ argv: wrap("/bin/bash", "-l"), env: {} });
  expect(replicaCommand({ kind: "console", app: "shop" }, hello)).toEqual({ argv: wrap("/app/bin/hello", "remote"), env: {} });
  expect(replicaCommand({ kind: "console", app: "shop" }, { name: "old", distillery: true }).argv).toEqual(wrap("/app/bin/old", "remote_console"));
  expect(replicaCommand({ kind: "rpc", app: "shop", expr: "a $(b)" }, hello).argv).toEqual(wrap("/app/bin/hello", "rpc", "a $(b)"));
  expect(replicaCommand({ kind: "eval", app: "shop", expr: "1" }, hello).argv).toEqual(wrap("/app/bin/hello", "eval", "1"));
  expect(replicaCommand({ kind: "migrate", app: "shop" }, hello)).toEqual({ argv: wrap("/app/bin/hello", "eval", MIGRATE_EXPR), env: { BEAMSTALK_MIGRATION_APP: "hello" } });
  expect(replicaCommand({ kind: "migrate", app: "shop", migrationApp: "core" }, hello).env).toEqual({ BEAMSTALK_MIGRATION_APP: "core" });
  expect(() => replicaCommand({ kind: "eval", app: "shop", expr: "1" }, null)).toThrow();
  expect(PROFILE_THEN_EXEC).toEndWith('exec "$@"');
});

test("the release name comes from the builder's files, else the single executable in /app/bin", () => {
  expect(releaseFromFiles("/app/.beamstalk/release-name:hello\n/app/.beamstalk/release-start:start\n")).toEqual(hello);
  expect(releaseFromFiles("/app/.beamstalk/release-name:old_app\n/app/.beamstalk/release-start:foreground\n")).toEqual({ name: "old_app", distillery: true });
  expect(releaseFromFiles("")).toBeNull();
  expect(releaseFromFiles("/app/.beamstalk/release-name:../x\n")).toBeNull();
  expect(releaseFromBin("hello\n")).toEqual(hello);
  expect(releaseFromBin("hello\nother\n")).toBeNull();
  expect(releaseFromBin("")).toBeNull();
});

const replica = (over: Partial<Replica>): Replica => ({
  id: "c", name: "n", hostname: "h", app: "shop", release: 1, process: "web", index: 1, address: { host: "10.0.0.2", port: 4000 }, state: "running", startedAt: null, restarts: 0, size: 1, ...over,
});

test("a replica is picked: the named one, else the first web replica of the newest release", () => {
  const all = [
    replica({ id: "w1", index: 1 }), replica({ id: "w2", index: 2 }), replica({ id: "k1", process: "worker" }),
    replica({ id: "new2", release: 2, index: 2 }), replica({ id: "new1", release: 2, index: 1, state: "restarting" }),
  ];
  expect(pickReplica("shop", all)).toMatchObject({ ok: true, replica: { id: "new2" } });
  expect(pickReplica("shop", all, "web.1")).toMatchObject({ ok: true, replica: { id: "w1" } });
  expect(pickReplica("shop", all, "worker.1")).toMatchObject({ ok: true, replica: { id: "k1" } });
  expect(pickReplica("shop", [replica({ process: "worker" })])).toMatchObject({ ok: true, replica: { process: "worker" } });
  expect(pickReplica("shop", all, "web.7")).toEqual({ ok: false, message: "app shop has no running replica web.7; running: web.2, web.1, worker.1" });
  expect(pickReplica("shop", [replica({ state: "exited" })])).toMatchObject({ ok: false, message: expect.stringContaining("has no running replica") });
});

test("psql runs a constant script in the replica: no argument comes from the user", () => {
  const { argv, env } = replicaCommand({ kind: "psql", app: "shop" }, null);
  expect(argv.slice(0, 4)).toEqual(["/bin/bash", "-c", PROFILE_THEN_EXEC, "beamstalk"]);
  expect(argv.slice(4)).toEqual(["/bin/bash", "-c", PSQL_FROM_URL]);
  expect(env).toEqual({});
});

test("PSQL_FROM_URL takes a DATABASE_URL apart into libpq variables", () => {
  const script = PSQL_FROM_URL.replace('exec psql -X "$@"', 'echo "$PGUSER|$PGPASSWORD|$PGHOST|$PGPORT|$PGDATABASE|$*"');
  const run = (url: string) =>
    Bun.spawnSync(["bash", "-c", script, "psql", "-c", "SELECT '$(id)'"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", DATABASE_URL: url } }).stdout.toString().trim();
  expect(run("postgresql://shop:s3cr3t@db.shop.internal:5432/shop")).toBe("shop|s3cr3t|db.shop.internal|5432|shop|-c SELECT '$(id)'");
  expect(run("postgres://u:p@h/d?sslmode=disable")).toBe("u|p|h||d|-c SELECT '$(id)'");
});
