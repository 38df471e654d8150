import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { exec } from "../../src/lib/exec.ts";
import { containerName } from "../../src/postgres/index.ts";
import type { App } from "../../src/state/index.ts";
import { type Client, pgHarness } from "./support.ts";

// Real PostgreSQL 15 in containers built from Debian's packages (beamstalk/postgres:15,
// built here when missing), a real app network, and a psql client container on it.
const h = pgHarness();
let app: App;
let db: Client;

beforeAll(async () => {
  app = h.makeApp();
}, 600_000);

afterAll(async () => {
  await h.cleanup();
}, 120_000);

const ms = (started: number) => `${((performance.now() - started) / 1000).toFixed(2)} s`;

describe("managed PostgreSQL", () => {
  test("create: a server on the app's network only, DATABASE_URL set, no password in argv or on disk in the clear", async () => {
    const started = performance.now();
    const info = await h.postgres.create(app, { size: 0.6 }, h.owner.id);
    console.log(`pg:create ${ms(started)}`);
    expect(info).toMatchObject({ state: "available", container: "running", version: 15, size: 0.6, host: `db.${app.name}.internal`, port: 5432 });
    expect(info.diskBytes).toBeGreaterThan(10_000_000);
    const url = h.state.config.get(app).DATABASE_URL!;
    expect(url).toMatch(new RegExp(`^postgres://${info.user}:[0-9a-f]{48}@db\\.${app.name}\\.internal:5432/${info.database}$`));
    const password = new URL(url).password;
    expect(h.configCalls).toEqual([{ app: app.name, change: { set: { DATABASE_URL: url } } }]);

    const inspect = JSON.parse((await exec(["docker", "inspect", "--", containerName(app.name)])).stdout)[0];
    expect(inspect.HostConfig.PortBindings ?? {}).toEqual({});
    expect(inspect.HostConfig.PublishAllPorts).toBe(false);
    expect(Object.keys(inspect.NetworkSettings.Networks)).toEqual([`beamstalk-${app.name}`]);
    expect(inspect.HostConfig.Memory).toBe(Math.round(0.6 * 1024 ** 3));
    expect(inspect.Config.Labels["beamstalk.test"]).toBe(h.id);
    expect(inspect.Config.Labels["beamstalk.managed"]).toBeUndefined(); // the runner must not take it for a replica
    const everything = JSON.stringify(inspect);
    expect(everything).not.toContain(password);
    expect(inspect.Config.Cmd).toContain("shared_buffers=157286kB");
    expect(inspect.Config.Cmd).toContain("effective_cache_size=471858kB");
    expect(h.logger.lines.join("\n")).not.toContain(password);
    expect(JSON.stringify(h.state.activity.list(app.id))).not.toContain(password);

    db = await h.client(app.name);
    await db.sql("CREATE TABLE items (id serial PRIMARY KEY, note text NOT NULL)");
    await db.sql("INSERT INTO items (note) SELECT 'row ' || g FROM generate_series(1, 1000) g");
    expect(await db.count("items")).toBe(1000);
    // The superuser cannot log in over the network, and a wrong password is refused.
    const wrong = await exec(db.psqlArgv(["-c", "SELECT 1"]), { env: { DATABASE_URL: url.replace(password, "0".repeat(48)) } });
    expect(wrong.stderr).toContain("password authentication failed");
  }, 300_000);

  test("capture a backup, delete rows, restore: the rows are back", async () => {
    let started = performance.now();
    const backup = await h.postgres.capture(app, h.owner.id);
    console.log(`backup (1000 rows) ${ms(started)}, ${backup.size} bytes`);
    expect(backup).toMatchObject({ status: "succeeded", kind: "manual" });
    expect(backup.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(backup.file).toBe(`${h.dir}/backups/${app.name}/${backup.id}.dump`);
    expect(statSync(backup.file).size).toBe(backup.size!);
    expect(statSync(backup.file).mode & 0o777).toBe(0o600);
    expect(new Bun.CryptoHasher("sha256").update(await Bun.file(backup.file).bytes()).digest("hex")).toBe(backup.sha256!);

    await db.sql("DELETE FROM items WHERE id > 100");
    await db.sql("CREATE TABLE later (x int)");
    expect(await db.count("items")).toBe(100);
    started = performance.now();
    await h.postgres.restore(app, backup.id, h.owner.id);
    console.log(`restore (1000 rows) ${ms(started)}`);
    expect(await db.count("items")).toBe(1000);
    expect(await db.sql("SELECT note FROM items WHERE id = 1000")).toBe("row 1000");
    // the app's role still owns its tables and can write after a restore
    await db.sql("INSERT INTO items (note) VALUES ('after restore')");
    expect(await db.count("items")).toBe(1001);
    expect(h.postgres.list(app).map((b) => b.id)).toEqual([backup.id]);
    expect(h.state.activity.list(app.id).map((a) => a.action)).toContain("pg.restore");
  }, 120_000);

  test("a damaged backup file is refused, and the database is untouched", async () => {
    const [backup] = h.postgres.list(app);
    const original = await Bun.file(backup!.file).bytes();
    const damaged = new Uint8Array(original);
    damaged[damaged.length - 10]! ^= 0xff;
    await Bun.write(backup!.file, damaged);
    await expect(h.postgres.restore(app, backup!.id, h.owner.id)).rejects.toThrow("does not match its sha256");
    await Bun.write(backup!.file, original);
    expect(await db.count("items")).toBe(1001);
  }, 60_000);

  test("a backup taken while rows are written restores to a consistent state", async () => {
    const N = 10;
    await db.sql("CREATE TABLE batches (id bigserial PRIMARY KEY, batch int NOT NULL)");
    const script = Array.from({ length: 600 }, (_, i) => `BEGIN;\nINSERT INTO batches (batch) SELECT ${i} FROM generate_series(1, ${N / 2});\nSELECT pg_sleep(0.002);\nINSERT INTO batches (batch) SELECT ${i} FROM generate_series(1, ${N / 2});\nCOMMIT;\n`).join("");
    const writer = db.writer(script);
    while ((await db.count("batches")) < 200) await Bun.sleep(20);
    const backup = await h.postgres.capture(app, h.owner.id);
    const atBackupEnd = await db.count("batches");
    expect(await writer.proc.exited).toBe(0);
    const total = await db.count("batches");
    expect(total).toBe(600 * N);
    await h.postgres.restore(app, backup.id, h.owner.id);
    const restored = await db.count("batches");
    console.log(`consistent backup: ${restored} rows restored of ${total} written (${atBackupEnd} when the backup ended)`);
    expect(restored % N).toBe(0);
    expect(restored).toBeGreaterThanOrEqual(200);
    expect(restored).toBeLessThan(total);
    // every batch in the restore is whole
    expect(await db.sql(`SELECT count(*) FROM (SELECT batch FROM batches GROUP BY batch HAVING count(*) <> ${N}) x`)).toBe("0");
  }, 180_000);

  test("scale: the server restarts with the new size's memory and settings, rows stay", async () => {
    const before = await db.count("items");
    const started = performance.now();
    const info = await h.postgres.scale(app, 1.7, h.owner.id);
    console.log(`pg:scale 0.6 → 1.7 ${ms(started)}`);
    expect(info).toMatchObject({ size: 1.7, state: "available", container: "running" });
    const inspect = JSON.parse((await exec(["docker", "inspect", "--", containerName(app.name)])).stdout)[0];
    expect(inspect.HostConfig.Memory).toBe(Math.round(1.7 * 1024 ** 3));
    const sharedKb = Number(await db.sql("SELECT setting::bigint * 8 FROM pg_settings WHERE name = 'shared_buffers'"));
    expect(Math.abs(sharedKb / ((1.7 * 1024 ** 3) / 1024) - 0.25)).toBeLessThan(0.001);
    expect(await db.sql("SHOW max_connections")).toBe("50");
    expect(await db.count("items")).toBe(before);
    await expect(h.postgres.scale(app, 3, h.owner.id)).rejects.toThrow("invalid database size");
  }, 120_000);

  test("docker kill mid-write: the database comes back and every acknowledged commit is there", async () => {
    await db.sql("CREATE TABLE acks (id int PRIMARY KEY)");
    const script = Array.from({ length: 20000 }, (_, i) => `BEGIN;\nINSERT INTO acks VALUES (${i});\nCOMMIT;\n`).join("");
    const writer = db.writer(script);
    while ((await db.count("acks")) < 300) await Bun.sleep(20);
    expect((await exec(["docker", "kill", "--", containerName(app.name)])).code).toBe(0);
    await writer.proc.exited;
    const acked = await writer.acks();
    await Bun.sleep(1500);
    const afterKill = (await exec(["docker", "inspect", "--format", "{{.State.Status}}", "--", containerName(app.name)])).stdout.trim();
    const revived = await h.postgres.ensureRunning();
    console.log(`after docker kill the container was ${afterKill}; ensureRunning revived ${JSON.stringify(revived)}`);
    let count = -1;
    for (let i = 0; i < 100 && count < 0; i++) count = await db.count("acks").catch(() => -1).then((n) => (n < 0 ? (Bun.sleep(200), -1) : n));
    console.log(`kill test: ${acked} commits acknowledged, ${count} rows after recovery`);
    expect(acked).toBeGreaterThanOrEqual(300);
    expect(count).toBeGreaterThanOrEqual(acked);
    expect(count).toBeLessThanOrEqual(acked + 1); // a commit may reach disk with its ack lost in the kill
    expect(Number(await db.sql("SELECT max(id) FROM acks")) + 1).toBe(count); // no gap: commits are in order
  }, 180_000);

  test("a failed backup is recorded, logged, in the activity, and reported by pg", async () => {
    await exec(["docker", "stop", "--", containerName(app.name)]);
    await expect(h.postgres.capture(app, h.owner.id)).rejects.toThrow(/backup #\d+ failed: the database container is exited/);
    const info = await h.postgres.info(app);
    expect(info.failedBackup).toMatchObject({ status: "failed", error: "the database container is exited" });
    expect(h.logger.lines.some((l) => l.includes("postgres.backup_failed"))).toBe(true);
    expect(h.state.activity.list(app.id)[0]!.action).toBe("pg.backup.failed");
    expect(await h.postgres.ensureRunning()).toEqual([app.name]);
    const ok = await h.postgres.capture(app, h.owner.id);
    expect(ok.status).toBe("succeeded");
    expect((await h.postgres.info(app)).failedBackup).toBeNull();
  }, 120_000);

  test("destroy takes a final backup, removes the server and its data, unsets DATABASE_URL", async () => {
    const items = await db.count("items");
    const { finalBackup } = await h.postgres.destroy(app, h.owner.id);
    expect(finalBackup).toMatchObject({ kind: "final", status: "succeeded" });
    expect(existsSync(finalBackup!.file)).toBe(true);
    expect((await exec(["docker", "inspect", "--", containerName(app.name)])).code).not.toBe(0);
    expect(existsSync(`${h.dir}/postgres/${app.name}`)).toBe(false);
    expect(h.state.config.get(app).DATABASE_URL).toBeUndefined();
    expect(h.postgres.list(app).some((b) => b.id === finalBackup!.id)).toBe(true);
    await expect(h.postgres.info(app)).rejects.toThrow("has no database");

    // The final backup holds the data: a new database restores it.
    await h.postgres.create(app, {}, h.owner.id);
    await h.postgres.restore(app, finalBackup!.id, h.owner.id);
    expect(await db.count("items")).toBe(items);
  }, 180_000);
});
