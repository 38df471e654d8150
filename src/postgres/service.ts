import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, lstatSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { BeamstalkError, badRequest, conflict, notFound } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import { Secret } from "../lib/secret.ts";
import type { Activity } from "../state/activity.ts";
import type { App } from "../state/apps.ts";
import type { BackupKind, BackupRecord, Backups } from "../state/backups.ts";
import type { DatabaseRecord, Databases } from "../state/databases.ts";
import { dumpTo, restoreFrom, sha256Of } from "./dump.ts";
import { POSTGRES_IMAGE, POSTGRES_VERSION } from "./image.ts";
import { KeyedLock } from "./lock.ts";
import { pruneBackups, type Retention, DEFAULT_RETENTION } from "./retention.ts";
import { scramVerifier } from "./scram.ts";
import { containerStatus, docker, removeContainer, waitReady } from "./server.ts";
import { type DatabaseSize, DEFAULT_SIZE, checkSize } from "./sizes.ts";
import { backupDir, containerName, databaseName, databaseUrl, hbaConf, hostFor, initArgvs, psqlStdinArgv, serverRunArgv, setupSql, volumePaths } from "./spec.ts";

export interface ConfigChange {
  set?: Record<string, string>;
  unset?: string[];
}

export interface PostgresOptions {
  databases: Databases;
  backups: Backups;
  activity: Activity;
  /** The data directory: servers under postgres/<app>/, backups under backups/<app>/. */
  dataDir: string;
  logger: Logger;
  /** The app's private network (the runner's): made to exist, and its name. */
  network: { ensure(app: string): Promise<void>; name(app: string): string };
  /** Sets or unsets config vars and rolls them out (the deploy layer's config change + redeploy). */
  setConfig(app: App, change: ConfigChange, userId: number | null): Promise<void>;
  /** Resolves once the server image exists (builds it when missing); default: it is assumed to exist. */
  imageReady?: () => Promise<void>;
  image?: string;
  /** Extra labels on every container (an installation or test id). */
  labels?: Record<string, string>;
  retention?: Partial<Retention>;
}

export interface DatabaseInfo {
  app: string;
  state: DatabaseRecord["state"];
  /** What the engine says of the container right now. */
  container: string;
  version: number;
  size: number;
  host: string;
  port: number;
  database: string;
  user: string;
  diskBytes: number;
  error: string | null;
  createdAt: string;
  lastBackup: BackupRecord | null;
  /** The newest backup, when it failed: reported until one succeeds. */
  failedBackup: BackupRecord | null;
}

/**
 * Managed PostgreSQL: one server per app, in its own container on the app's
 * network, data in a bind-mounted directory; backups as pg_dump archives with
 * their sha256. One operation at a time per app.
 */
export class Postgres {
  readonly #o: PostgresOptions;
  readonly #lock = new KeyedLock();
  readonly #retention: Retention;
  #watch: ReturnType<typeof setInterval> | null = null;

  constructor(options: PostgresOptions) {
    this.#o = options;
    this.#retention = { ...DEFAULT_RETENTION, ...options.retention };
  }

  get #image(): string {
    return this.#o.image ?? POSTGRES_IMAGE;
  }

  #spec(app: string, size: DatabaseSize) {
    return { app, size, image: this.#image, network: this.#o.network.name(app), dataDir: this.#o.dataDir, ...(this.#o.labels ? { labels: this.#o.labels } : {}) };
  }

  #require(app: App): DatabaseRecord {
    const record = this.#o.databases.get(app);
    if (!record) throw notFound(`${app.name} has no database`, "`beamstalk pg:create` makes one");
    return record;
  }

  /** The app's DATABASE_URL (a Secret); only for callers allowed to see credentials. */
  url(app: App): Secret {
    return new Secret(databaseUrl(app.name, this.#require(app).password));
  }

  async create(app: App, options: { size?: unknown; version?: unknown }, userId: number | null): Promise<DatabaseInfo> {
    const size = options.size === undefined ? DEFAULT_SIZE : checkSize(options.size);
    if (options.version !== undefined && Number(options.version) !== POSTGRES_VERSION) {
      throw badRequest(`PostgreSQL ${String(options.version)} is not available`, `this host runs PostgreSQL ${POSTGRES_VERSION}`);
    }
    return this.#lock.run(app.name, async () => {
      if (this.#o.databases.get(app)) throw conflict(`${app.name} already has a database`, "`beamstalk pg` shows it");
      const password = new Secret(randomBytes(24).toString("hex"));
      const paths = volumePaths(this.#o.dataDir, app.name);
      this.#o.databases.create(app, { version: POSTGRES_VERSION, size, password, volume: paths.root });
      const started = Date.now();
      try {
        await this.#o.imageReady?.();
        await this.#o.network.ensure(app.name);
        await removeContainer(app.name); // a leftover of an earlier failed create
        rmSync(paths.root, { recursive: true, force: true });
        mkdirSync(paths.data, { recursive: true, mode: 0o700 });
        mkdirSync(paths.conf, { recursive: true, mode: 0o755 });
        writeFileSync(paths.hba, hbaConf(app.name), { mode: 0o644 });
        const spec = this.#spec(app.name, size);
        for (const argv of initArgvs(spec)) await docker(argv, "initdb");
        const id = await docker(serverRunArgv(spec), "starting PostgreSQL");
        await waitReady(app.name);
        await docker(psqlStdinArgv(app.name), "creating the role and database", { stdin: setupSql(app.name, scramVerifier(password.reveal())) });
        this.#o.databases.update(app, { state: "available", containerId: id, error: null });
      } catch (err) {
        const message = (err as Error).message;
        this.#o.databases.update(app, { state: "failed", error: message });
        this.#o.logger.error("postgres.create_failed", { app: app.name, error: message });
        this.#o.activity.record(app.id, userId, "pg.create.failed", `PostgreSQL database could not be created: ${message.slice(0, 300)}`);
        throw new BeamstalkError("internal", `creating the database failed: ${message}`, "`beamstalk pg:destroy` removes what was made; then try again");
      }
      this.#o.activity.record(app.id, userId, "pg.create", `Created PostgreSQL ${POSTGRES_VERSION} database (size ${size})`);
      this.#o.logger.info("postgres.created", { app: app.name, size, seconds: (Date.now() - started) / 1000 });
      await this.#o.setConfig(app, { set: { DATABASE_URL: databaseUrl(app.name, password) } }, userId);
      return this.#infoOf(app);
    });
  }

  async info(app: App): Promise<DatabaseInfo> {
    this.#require(app);
    return this.#infoOf(app);
  }

  async #infoOf(app: App): Promise<DatabaseInfo> {
    const record = this.#require(app);
    const backups = this.#o.backups.list(app).filter((b) => b.status !== "running");
    const newest = backups[0] ?? null;
    return {
      app: app.name,
      state: record.state,
      container: (await containerStatus(app.name)).status,
      version: record.version,
      size: record.size,
      host: hostFor(app.name),
      port: 5432,
      database: databaseName(app.name),
      user: databaseName(app.name),
      diskBytes: diskUse(volumePaths(this.#o.dataDir, app.name).data),
      error: record.error,
      createdAt: record.createdAt,
      lastBackup: backups.find((b) => b.status === "succeeded") ?? null,
      failedBackup: newest?.status === "failed" ? newest : null,
    };
  }

  /** Restarts the server with the new size's memory and settings; the data directory stays. */
  async scale(app: App, size: unknown, userId: number | null): Promise<DatabaseInfo> {
    const to = checkSize(size);
    return this.#lock.run(app.name, async () => {
      const record = this.#require(app);
      if (record.state !== "available") throw conflict(`${app.name}'s database is ${record.state}`, "wait for it, or see `beamstalk pg`");
      const from = record.size as DatabaseSize;
      this.#o.databases.update(app, { state: "scaling" });
      try {
        await this.#restartWith(app, to);
      } catch (err) {
        const message = (err as Error).message;
        this.#o.logger.error("postgres.scale_failed", { app: app.name, size: to, error: message });
        await this.#restartWith(app, from).catch(() => {});
        this.#o.databases.update(app, { state: "available" });
        throw new BeamstalkError("internal", `scaling to ${to} failed; it runs at ${from} again: ${message}`);
      }
      this.#o.databases.update(app, { state: "available", size: to, error: null });
      this.#o.activity.record(app.id, userId, "pg.scale", `Scaled PostgreSQL database from ${from} to ${to}`);
      this.#o.logger.info("postgres.scaled", { app: app.name, from, to });
      return this.#infoOf(app);
    });
  }

  async #restartWith(app: App, size: DatabaseSize): Promise<void> {
    await removeContainer(app.name);
    await this.#o.network.ensure(app.name);
    const id = await docker(serverRunArgv(this.#spec(app.name, size)), "starting PostgreSQL");
    this.#o.databases.update(app, { containerId: id });
    await waitReady(app.name);
  }

  /** A final backup first (kept for the retention period), then the server and its data go and DATABASE_URL is unset. */
  destroy(app: App, userId: number | null): Promise<{ finalBackup: BackupRecord | null }> {
    return this.#lock.run(app.name, async () => {
      const record = this.#require(app);
      let finalBackup: BackupRecord | null = null;
      if (record.state !== "failed") {
        finalBackup = await this.#capture(app, "final", userId);
        if (finalBackup.status !== "succeeded") {
          throw new BeamstalkError("internal", `the final backup failed, so the database was kept: ${finalBackup.error}`, "fix the database, or see `beamstalk pg`");
        }
      }
      await removeContainer(app.name);
      rmSync(volumePaths(this.#o.dataDir, app.name).root, { recursive: true, force: true });
      this.#o.databases.remove(app);
      this.#o.activity.record(app.id, userId, "pg.destroy", `Destroyed PostgreSQL database${finalBackup ? ` (final backup #${finalBackup.id})` : ""}`);
      this.#o.logger.info("postgres.destroyed", { app: app.name, final_backup: finalBackup?.id });
      if (record.state !== "creating") await this.#o.setConfig(app, { unset: ["DATABASE_URL"] }, userId).catch((err) => {
        this.#o.logger.error("postgres.unset_url_failed", { app: app.name, error: (err as Error).message });
      });
      return { finalBackup };
    });
  }

  /** On-demand backup; a failure is recorded, logged and in the activity, then thrown. */
  capture(app: App, userId: number | null, kind: BackupKind = "manual"): Promise<BackupRecord> {
    return this.#lock.run(app.name, async () => {
      const backup = await this.#capture(app, kind, userId);
      if (backup.status === "failed") throw new BeamstalkError("internal", `backup #${backup.id} failed: ${backup.error}`, "`beamstalk pg` shows the database's state");
      await this.#prune(app);
      return backup;
    });
  }

  async #capture(app: App, kind: BackupKind, userId: number | null): Promise<BackupRecord> {
    const record = this.#require(app);
    const dir = backupDir(this.#o.dataDir, app.name);
    const backup = this.#o.backups.start(app, kind, (id) => join(dir, `${id}.dump`));
    const started = Date.now();
    try {
      if (record.state !== "available") throw new Error(`the database is ${record.state}`);
      const { status } = await containerStatus(app.name);
      if (status !== "running") throw new Error(`the database container is ${status}`);
      const result = await dumpTo(app.name, backup.file);
      this.#o.backups.succeed(backup.id, result);
      const seconds = (Date.now() - started) / 1000;
      this.#o.logger.info("postgres.backup", { app: app.name, id: backup.id, kind, bytes: result.size, entries: result.entries, seconds });
      this.#o.activity.record(app.id, userId, "pg.backup", `${capital(kind)} backup #${backup.id} (${result.size} bytes, sha256 ${result.sha256.slice(0, 12)})`);
    } catch (err) {
      const message = (err as Error).message;
      this.#o.backups.fail(backup.id, message);
      this.#o.logger.error("postgres.backup_failed", { app: app.name, id: backup.id, kind, error: message });
      this.#o.activity.record(app.id, userId, "pg.backup.failed", `${capital(kind)} backup #${backup.id} failed: ${message.slice(0, 300)}`);
    }
    return this.#o.backups.get(app, backup.id)!;
  }

  list(app: App): BackupRecord[] {
    return this.#o.backups.list(app);
  }

  /** Restores a backup into the app's database after checking its sha256; all of it, or nothing. */
  async restore(app: App, id: number, userId: number | null): Promise<BackupRecord> {
    return this.#lock.run(app.name, async () => {
      const record = this.#require(app);
      const backup = this.#o.backups.get(app, id);
      if (!backup) throw notFound(`${app.name} has no backup #${id}`, "`beamstalk pg:backups` lists them");
      if (backup.status !== "succeeded") throw conflict(`backup #${id} ${backup.status === "failed" ? "failed" : "is not finished"}; it cannot be restored`);
      if (record.state !== "available") throw conflict(`${app.name}'s database is ${record.state}`);
      if (!existsSync(backup.file)) throw conflict(`backup #${id}'s file is missing`);
      if ((await sha256Of(backup.file)) !== backup.sha256) throw conflict(`backup #${id}'s file does not match its sha256; it was not restored`);
      this.#o.databases.update(app, { state: "restoring" });
      const started = Date.now();
      try {
        await restoreFrom(app.name, backup.file);
      } catch (err) {
        const message = (err as Error).message;
        this.#o.logger.error("postgres.restore_failed", { app: app.name, id, error: message });
        this.#o.activity.record(app.id, userId, "pg.restore.failed", `Restore of backup #${id} failed: ${message.slice(0, 300)}`);
        throw new BeamstalkError("internal", `restoring backup #${id} failed: ${message}`);
      } finally {
        this.#o.databases.update(app, { state: "available" });
      }
      this.#o.activity.record(app.id, userId, "pg.restore", `Restored backup #${id}`);
      this.#o.logger.info("postgres.restored", { app: app.name, id, seconds: (Date.now() - started) / 1000 });
      return backup;
    });
  }

  /** The daily job: a backup of every available database, then retention. Never throws. */
  async dailyBackups(): Promise<BackupRecord[]> {
    const done: BackupRecord[] = [];
    for (const record of this.#o.databases.all()) {
      const app = appOf(record);
      await this.#lock
        .run(app.name, async () => {
          if (this.#o.databases.get(app)?.state !== "available") return;
          done.push(await this.#capture(app, "daily", null));
          await this.#prune(app);
        })
        .catch((err) => this.#o.logger.error("postgres.daily_backup_failed", { app: app.name, error: (err as Error).message }));
    }
    return done;
  }

  async #prune(app: App): Promise<void> {
    const removed = pruneBackups(this.#o.backups.list(app), this.#retention, this.#o.backups.now());
    for (const backup of removed) {
      rmSync(backup.file, { force: true });
      this.#o.backups.remove(backup.id);
    }
    if (removed.length) this.#o.logger.info("postgres.backups_pruned", { app: app.name, ids: removed.map((b) => b.id).join(",") });
  }

  /** Starts (or recreates) every available database whose container is not running. Returns the apps it revived. */
  async ensureRunning(): Promise<string[]> {
    const revived: string[] = [];
    for (const record of this.#o.databases.all()) {
      if (record.state !== "available") continue;
      const app = appOf(record);
      const { status } = await containerStatus(app.name);
      if (status === "running" || status === "restarting") continue;
      await this.#lock
        .run(app.name, async () => {
          if ((await containerStatus(app.name)).status === "running") return;
          this.#o.logger.warn("postgres.reviving", { app: app.name, was: status });
          if (status === "missing") await this.#restartWith(app, record.size as DatabaseSize);
          else {
            await docker(["docker", "start", "--", containerName(app.name)], "starting PostgreSQL");
            await waitReady(app.name);
          }
          revived.push(app.name);
          this.#o.activity.record(app.id, null, "pg.revive", `PostgreSQL database restarted (container was ${status})`);
        })
        .catch((err) => this.#o.logger.error("postgres.revive_failed", { app: app.name, error: (err as Error).message }));
    }
    return revived;
  }

  /** Checks every few seconds that each database runs (a killed container is started again). */
  start(intervalMs = 10_000): void {
    if (this.#watch) return;
    for (const stale of this.#o.backups.running()) this.#o.backups.fail(stale.id, "the daemon stopped during the backup");
    this.#watch = setInterval(() => void this.ensureRunning(), intervalMs);
    this.#watch.unref?.();
  }

  stop(): void {
    if (this.#watch) clearInterval(this.#watch);
    this.#watch = null;
  }

  /** App destroy: the server and its data go, with no final backup (the app's backups go with the app). */
  removeApp(app: App): Promise<void> {
    return this.#lock.run(app.name, async () => {
      await removeContainer(app.name, 10);
      rmSync(volumePaths(this.#o.dataDir, app.name).root, { recursive: true, force: true });
      this.#o.databases.remove(app);
    });
  }
}

const capital = (word: string) => word[0]!.toUpperCase() + word.slice(1);

/** Enough of an App for the repositories, which key on id and name. */
function appOf(record: DatabaseRecord): App {
  return { id: record.appId, name: record.app, ownerId: 0, owner: "", createdAt: record.createdAt };
}

/** Bytes under a directory (the daemon runs as root and can read the server's 0700 data directory). */
export function diskUse(dir: string): number {
  let total = 0;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of entries) {
    const path = join(dir, name);
    try {
      const stat = lstatSync(path);
      total += stat.isDirectory() ? diskUse(path) : stat.size;
    } catch {
      // removed while walking (WAL segments come and go)
    }
  }
  return total;
}
