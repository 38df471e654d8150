import { describe, expect, test } from "bun:test";
import { Secret } from "../lib/secret.ts";
import type { BackupRecord } from "../state/backups.ts";
import { pruneBackups, DEFAULT_RETENTION } from "./retention.ts";
import { nextRun, parseTime } from "./scheduler.ts";
import { scramVerifier } from "./scram.ts";
import { checkSize, tuning } from "./sizes.ts";
import { databaseName, databaseUrl, dumpArgv, hbaConf, initArgvs, removeVolumesArgv, restoreArgv, serverRunArgv, setupSql, writeHbaArgv } from "./spec.ts";

describe("postgres specs", () => {
  test("sizes: memory, shared_buffers 25%, effective_cache_size 75%", () => {
    expect(tuning(4).settings).toEqual({
      max_connections: "100",
      shared_buffers: "1048576kB",
      effective_cache_size: "3145728kB",
      work_mem: "10485kB",
      maintenance_work_mem: "209715kB",
    });
    expect(tuning(128).settings.maintenance_work_mem).toBe("2097152kB");
    expect(checkSize("1.7")).toBe(1.7);
    expect(() => checkSize(2)).toThrow("invalid database size");
    expect(() => checkSize("abc")).toThrow("invalid database size");
  });

  test("the server's argv: app network only, no published port, no secret", () => {
    const argv = serverRunArgv({ app: "shop", size: 0.6, image: "beamstalk/postgres:15", network: "beamstalk-shop", dataDir: "/var/lib/beamstalk", labels: { "beamstalk.test": "x" } });
    expect(argv.slice(0, 5)).toEqual(["docker", "run", "--detach", "--name", "beamstalk-shop-postgres"]);
    expect(argv).toContain("--network-alias");
    expect(argv[argv.indexOf("--network-alias") + 1]).toBe("db.shop.internal");
    expect(argv.some((a) => a === "-p" || a.startsWith("--publish"))).toBe(false);
    expect(argv).toContain("type=bind,source=/var/lib/beamstalk/postgres/shop/data,target=/var/lib/postgresql/data");
    expect(argv.slice(argv.indexOf("--") + 1, argv.indexOf("--") + 5)).toEqual(["beamstalk/postgres:15", "postgres", "-D", "/var/lib/postgresql/data"]);
    expect(argv).toContain("shared_buffers=157286kB");
    expect(() => serverRunArgv({ app: "shop", size: 0.6, image: "i", network: "n", dataDir: "/a,b" })).toThrow("absolute");
    expect(() => serverRunArgv({ app: "../x", size: 0.6, image: "i", network: "n", dataDir: "/a" })).toThrow("invalid app name");
  });

  test("on another host (storage volume): data and pg_hba.conf in that engine's named volumes, no host path, the file over stdin", () => {
    const spec = { app: "shop", size: 0.6 as const, image: "beamstalk/postgres:15", network: "beamstalk-shop", dataDir: "/var/lib/beamstalk", storage: "volume" as const };
    const argv = serverRunArgv(spec);
    expect(argv).toContain("type=volume,source=beamstalk-shop-pgdata,target=/var/lib/postgresql/data,volume-label=beamstalk.postgres=shop");
    expect(argv).toContain("type=volume,source=beamstalk-shop-pgconf,target=/etc/beamstalk-postgres,readonly,volume-label=beamstalk.postgres=shop");
    expect(argv.some((a) => a.includes("/var/lib/beamstalk"))).toBe(false);
    for (const init of initArgvs(spec)) expect(init).toContain("type=volume,source=beamstalk-shop-pgdata,target=/var/lib/postgresql/data,volume-label=beamstalk.postgres=shop");
    const hba = writeHbaArgv(spec);
    expect(hba.slice(0, 4)).toEqual(["docker", "run", "--rm", "-i"]);
    expect(hba.slice(hba.indexOf("--") + 1)).toEqual(["beamstalk/postgres:15", "dd", "of=/etc/beamstalk-postgres/pg_hba.conf", "status=none"]);
    expect(removeVolumesArgv("shop")).toEqual(["docker", "volume", "rm", "--force", "--", "beamstalk-shop-pgdata", "beamstalk-shop-pgconf"]);
    expect(() => removeVolumesArgv("../x")).toThrow("invalid app name");
  });

  test("dump and restore run inside the container as postgres, over the local socket", () => {
    expect(dumpArgv("my-shop")).toEqual(["docker", "exec", "--user", "postgres", "beamstalk-my-shop-postgres", "pg_dump", "-Fc", "--no-password", "-h", "/var/run/postgresql", "-d", "my_shop"]);
    expect(restoreArgv("my-shop")).toContain("--single-transaction");
    expect(restoreArgv("my-shop").slice(0, 3)).toEqual(["docker", "exec", "-i"]);
  });

  test("the role gets a SCRAM verifier, never the password; the URL carries it", () => {
    const verifier = scramVerifier("0123abcd", Buffer.alloc(16, 1));
    expect(verifier).toMatch(/^SCRAM-SHA-256\$4096:AQEBAQEBAQEBAQEBAQEBAQ==\$[A-Za-z0-9+/]+=:[A-Za-z0-9+/]+=$/);
    const sql = setupSql("my-shop", verifier);
    expect(sql).toContain("CREATE ROLE my_shop LOGIN PASSWORD 'SCRAM-SHA-256$4096:");
    expect(sql).not.toContain("0123abcd");
    expect(() => setupSql("my-shop", "plain'; DROP")).toThrow("not a SCRAM verifier");
    expect(databaseUrl("my-shop", new Secret("pw"))).toBe("postgres://my_shop:pw@db.my-shop.internal:5432/my_shop");
    expect(hbaConf("my-shop")).toContain("host  my_shop my_shop all scram-sha-256");
  });

  test("daily time: next HH:MM UTC strictly after now", () => {
    expect(nextRun(new Date("2024-05-01T02:59:00Z"), "03:00").toISOString()).toBe("2024-05-01T03:00:00.000Z");
    expect(nextRun(new Date("2024-05-01T03:00:00Z"), "03:00").toISOString()).toBe("2024-05-02T03:00:00.000Z");
    expect(nextRun(new Date("2024-12-31T23:30:00Z"), "00:15").toISOString()).toBe("2025-01-01T00:15:00.000Z");
    expect(() => parseTime("3am")).toThrow("HH:MM");
  });

  test("retention: 7 daily, 10 manual, finals for 7 days, 5 failed records", () => {
    const now = new Date("2024-05-20T00:00:00Z");
    let id = 100;
    const b = (kind: BackupRecord["kind"], status: BackupRecord["status"], daysAgo: number): BackupRecord => ({
      id: id--, appId: 1, app: "a", file: "f", kind, status, size: 1, sha256: "x", error: null,
      createdAt: new Date(now.getTime() - daysAgo * 86_400_000).toISOString(), finishedAt: null,
    });
    const list = [
      ...Array.from({ length: 9 }, (_, i) => b("daily", "succeeded", i)),
      b("final", "succeeded", 3),
      b("final", "succeeded", 8),
      ...Array.from({ length: 6 }, (_, i) => b("daily", "failed", i)),
      b("manual", "running", 0),
    ];
    const removed = pruneBackups(list, DEFAULT_RETENTION, now);
    expect(removed.map((r) => `${r.kind}/${r.status}`)).toEqual(["daily/succeeded", "daily/succeeded", "final/succeeded", "daily/failed"]);
  });
});

test("database names avoid PostgreSQL's reserved pg_ prefix and fit in 63 bytes", () => {
  expect(databaseName("shop-api")).toBe("shop_api");
  expect(databaseName("pg-shop")).toBe("app_pg_shop");
  expect(databaseName("pgadmin")).toBe("pgadmin");
  expect(databaseName(`pg-${"x".repeat(60)}`)).toHaveLength(63);
});
