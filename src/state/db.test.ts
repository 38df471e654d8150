import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MIGRATIONS } from "./migrations.ts";
import { openDatabase } from "./db.ts";

const fresh = () => join(mkdtempSync(join(tmpdir(), "beamstalk-db-")), "state.db");

describe("openDatabase", () => {
  test("puts WAL, synchronous=FULL and foreign keys in force and migrates", () => {
    const { db, pragmas } = openDatabase(fresh());
    expect(pragmas).toEqual({ journal_mode: "wal", synchronous: 2, foreign_keys: 1, user_version: MIGRATIONS.length });
    expect(db.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'apps'").get()).toEqual({ name: "apps" });
    db.close();
  });

  test("reopening runs no migration twice and keeps data", () => {
    const path = fresh();
    const first = openDatabase(path).db;
    first.run("INSERT INTO users (email, password_hash, created_at) VALUES ('a@b.co', 'x', 'now')");
    first.close();
    const { db, pragmas } = openDatabase(path);
    expect(pragmas.user_version).toBe(MIGRATIONS.length);
    expect(db.query("SELECT count(*) AS n FROM users").get()).toEqual({ n: 1 });
    db.close();
  });

  test("refuses a database from a newer binary", () => {
    const path = fresh();
    const db = new Database(path);
    db.run(`PRAGMA user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    expect(() => openDatabase(path)).toThrow(/newer than this binary/);
  });

  test("foreign keys cascade: an app's rows go with it", () => {
    const { db } = openDatabase(fresh());
    db.run("INSERT INTO users (id, email, password_hash, created_at) VALUES (1, 'a@b.co', 'x', 'now')");
    db.run("INSERT INTO apps (id, name, owner_id, secret_key_base, cookie, created_at) VALUES (1, 'web', 1, x'00', x'00', 'now')");
    db.run("INSERT INTO config_vars (app_id, key, value) VALUES (1, 'A', x'00')");
    db.run("DELETE FROM apps WHERE id = 1");
    expect(db.query("SELECT count(*) AS n FROM config_vars").get()).toEqual({ n: 0 });
    expect(() => db.run("INSERT INTO config_vars (app_id, key, value) VALUES (99, 'A', x'00')")).toThrow(/FOREIGN KEY/);
    db.close();
  });
});
