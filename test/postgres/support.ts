import { mkdtempSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exec, start } from "../../src/lib/exec.ts";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import { Postgres, type ConfigChange } from "../../src/postgres/index.ts";
import { ensurePostgresImage } from "../../src/postgres/image.ts";
import { Backups } from "../../src/state/backups.ts";
import { Cipher } from "../../src/state/crypto.ts";
import { Databases } from "../../src/state/databases.ts";
import { openDatabase } from "../../src/state/db.ts";
import { createState } from "../../src/state/index.ts";
import type { App } from "../../src/state/index.ts";

/**
 * A real state.db, real Docker and real PostgreSQL; every Docker object carries
 * beamstalk.test=<id> and is removed by cleanup().
 */
export function pgHarness() {
  const id = randomBytes(4).toString("hex");
  const labels = { "beamstalk.test": id };
  const dir = mkdtempSync(join(tmpdir(), "beamstalk-pg-"));
  const { db } = openDatabase(join(dir, "state.db"));
  const key = randomBytes(32);
  const state = createState(db, key);
  const cipher = new Cipher(key);
  const databases = new Databases(db, () => new Date(), cipher);
  const backups = new Backups(db, () => new Date());
  const logger = createMemoryLogger();
  const configCalls: { app: string; change: ConfigChange }[] = [];
  const network = (app: string) => `beamstalk-${app}`;
  const postgres = new Postgres({
    databases,
    backups,
    activity: state.activity,
    dataDir: dir,
    logger,
    labels,
    network: {
      name: network,
      async ensure(app) {
        if ((await exec(["docker", "network", "inspect", "--", network(app)])).code === 0) return;
        const made = await exec(["docker", "network", "create", "--label", `beamstalk.test=${id}`, "--", network(app)]);
        if (made.code !== 0) throw new Error(made.stderr);
      },
    },
    async setConfig(app, change, userId) {
      configCalls.push({ app: app.name, change });
      state.config.change(app, change, userId);
    },
    imageReady: async () => void (await ensurePostgresImage({ logger })),
  });
  const owner = state.users.create({ email: "owner@example.com", passwordHash: "x", isAdmin: true });

  function makeApp(): App {
    return state.apps.create(`pgt-${id}-${randomBytes(2).toString("hex")}`, owner);
  }

  /** A client container on the app's network (beamstalk/run has psql). */
  async function client(app: string): Promise<Client> {
    const name = `bst-pgclient-${id}-${randomBytes(2).toString("hex")}`;
    const run = await exec(["docker", "run", "-d", "--name", name, "--label", `beamstalk.test=${id}`, "--network", network(app), "--", "beamstalk/run:bookworm", "sleep", "infinity"]);
    if (run.code !== 0) throw new Error(run.stderr);
    return new Client(name, () => state.config.get(state.apps.byName(app)!).DATABASE_URL ?? "");
  }

  async function cleanup() {
    const ids = (await exec(["docker", "ps", "-aq", "--filter", `label=beamstalk.test=${id}`])).stdout.split("\n").filter(Boolean);
    if (ids.length) await exec(["docker", "rm", "-f", ...ids]);
    const nets = (await exec(["docker", "network", "ls", "-q", "--filter", `label=beamstalk.test=${id}`])).stdout.split("\n").filter(Boolean);
    if (nets.length) await exec(["docker", "network", "rm", ...nets]);
    postgres.stop();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }

  return { id, dir, state, databases, backups, logger, postgres, configCalls, makeApp, client, cleanup, owner };
}

/** psql with the app's DATABASE_URL, which reaches the CLI through its environment (`-e DATABASE_URL`), never argv. */
export class Client {
  constructor(readonly name: string, private readonly url: () => string) {}

  psqlArgv(extra: string[], stdin = false): string[] {
    return ["docker", "exec", ...(stdin ? ["-i"] : []), "-e", "DATABASE_URL", this.name, "bash", "-c", 'exec psql "$DATABASE_URL" -X "$@"', "psql", ...extra];
  }

  async sql(statement: string): Promise<string> {
    const result = await exec(this.psqlArgv(["-v", "ON_ERROR_STOP=1", "-tA", "-c", statement]), { env: { DATABASE_URL: this.url() } });
    if (result.code !== 0) throw new Error(`psql failed: ${result.stderr}`);
    return result.stdout.trim();
  }

  async count(table: string): Promise<number> {
    return Number(await this.sql(`SELECT count(*) FROM ${table}`));
  }

  /** A psql process reading statements from stdin; its stdout carries one COMMIT tag per acknowledged commit. */
  writer(script: string) {
    const proc = start(this.psqlArgv(["-v", "ON_ERROR_STOP=1"], true), { env: { DATABASE_URL: this.url() }, stdin: new Blob([script]), stdout: "pipe", stderr: "pipe" });
    const out = new Response(proc.stdout).text();
    return { proc, acks: async () => (await out).split("\n").filter((l) => l === "COMMIT").length };
  }

  async close() {
    await exec(["docker", "rm", "-f", this.name]);
  }
}
