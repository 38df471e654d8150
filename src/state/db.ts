import { Database } from "bun:sqlite";
import { MIGRATIONS } from "./migrations.ts";

export interface Pragmas {
  journal_mode: string;
  synchronous: number;
  foreign_keys: number;
  user_version: number;
}

/**
 * Opens state.db with the settings every write relies on (WAL, synchronous=FULL
 * so an acknowledged write survives power loss, foreign keys on), runs pending
 * migrations, and reads the settings back so boot can log what is really in force.
 */
export function openDatabase(path: string): { db: Database; pragmas: Pragmas } {
  const db = new Database(path, { create: true, strict: true });
  db.run("PRAGMA journal_mode = WAL");
  db.run("PRAGMA synchronous = FULL");
  db.run("PRAGMA foreign_keys = ON");
  db.run("PRAGMA busy_timeout = 5000");
  migrate(db);
  const pragmas = readPragmas(db);
  if (pragmas.journal_mode !== "wal" || pragmas.synchronous !== 2 || pragmas.foreign_keys !== 1) {
    db.close();
    throw new Error(`state.db settings not in force: ${JSON.stringify(pragmas)}`);
  }
  return { db, pragmas };
}

export function readPragmas(db: Database): Pragmas {
  const one = (name: string) => Object.values(db.query(`PRAGMA ${name}`).get() as object)[0];
  return {
    journal_mode: String(one("journal_mode")),
    synchronous: Number(one("synchronous")),
    foreign_keys: Number(one("foreign_keys")),
    user_version: Number(one("user_version")),
  };
}

export function migrate(db: Database): void {
  const current = Number(Object.values(db.query("PRAGMA user_version").get() as object)[0]);
  if (current > MIGRATIONS.length) {
    throw new Error(`state.db is at schema ${current}, newer than this binary knows (${MIGRATIONS.length}); upgrade beamstalk`);
  }
  for (let version = current + 1; version <= MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.run(MIGRATIONS[version - 1]!);
      db.run(`PRAGMA user_version = ${version}`);
    })();
  }
}
