import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, lstatSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { BeamstalkError, badRequest, conflict, notFound } from "../lib/errors.ts";
import { start } from "../lib/exec.ts";
import type { Logger } from "../lib/logger.ts";
import { Secret } from "../lib/secret.ts";
import type { Activity } from "../state/activity.ts";
import type { App } from "../state/apps.ts";
import type { BackupKind, BackupRecord, Backups } from "../state/backups.ts";
import type { DatabaseRecord, Databases } from "../state/databases.ts";
import { plainStream } from "./backup-cipher.ts";
import { dumpTo, restoreFrom, sha256Of } from "./dump.ts";
import { POSTGRES_IMAGE, POSTGRES_VERSION } from "./image.ts";
import { KeyedLock } from "./lock.ts";
import { pruneBackups, type Retention, DEFAULT_RETENTION } from "./retention.ts";
import { scramVerifier } from "./scram.ts";
import { Engine, LOCAL_ENGINE } from "./server.ts";
import { type DatabaseSize, DEFAULT_SIZE, checkSize } from "./sizes.ts";
import {
  backupDir, containerName, databaseName, databaseUrl, diskUseArgv, hbaConf, hostFor, initArgvs, psqlStdinArgv, removeVolumesArgv, replicaContainerName, replicaDataPath,
  replicaExecArgv, replicaHostFor, replicaInitArgvs, replicaRunArgv, replicaUrl, serverRunArgv, setupSql, volumeNames, volumePaths, writeHbaArgv,
} from "./spec.ts";

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
  /** The Swarm's other hosts, where pg:create --node may pin a database; absent with the Docker runner. */
  hosts?: DatabaseHosts;
  /** Set: this server cannot run databases (its replicas are not on this host's Docker), and why; create refuses with it. */
  unavailable?: { reason: string; hint: string };
  /** Backups are encrypted at rest under this key (backup-cipher.ts: derived from the master key); absent: plain archives. */
  backupKey?: Buffer;
}

/** What the Postgres module needs of a Swarm to run a database on another of its hosts. */
export interface DatabaseHosts {
  /** This host's node id: a database pinned here is an ordinary local one. */
  controllerNode: string;
  /** A host by name, address or id; a clear error for an unknown one. */
  find(host: string): Promise<{ id: string; hostname: string; state: string; availability: string }>;
  /** Its host name for messages and `pg` (the id's start when it left the Swarm). */
  hostname(nodeId: string): Promise<string>;
  /** The docker CLI's environment that reaches that host's engine (through its agent). */
  engineEnv(nodeId: string): Promise<Record<string, string>>;
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
  /** The Swarm host it is pinned to when not this one (pg:create --node); null: this host. */
  node: string | null;
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
 * network, data in a bind-mounted directory (on another Swarm host, with
 * --node: named volumes there, driven through that host's agent); backups as
 * pg_dump archives on this host with their sha256. One operation at a time per app.
 */
/** An app's read replica as pg:read_replicas shows it. */
export interface ReplicaInfo {
  host: string;
  port: number;
  state: "creating" | "available" | "failed";
  /** The replica's container as the engine says ("running", "exited", "missing"). */
  container: string;
  /** The primary's walsender state ("streaming", "catchup"), null when it has none. */
  stream: string | null;
  /** WAL bytes the replica has yet to replay, as the primary sees it. */
  lagBytes: number | null;
}

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

  #spec(app: string, size: DatabaseSize, engine: Engine) {
    const storage = engine.local ? ("bind" as const) : ("volume" as const);
    return { app, size, image: this.#image, network: this.#o.network.name(app), dataDir: this.#o.dataDir, storage, ...(this.#o.labels ? { labels: this.#o.labels } : {}) };
  }

  /** The engine that holds the app's server: this host's, or its pinned host's through the agent. */
  async #engineOf(record: DatabaseRecord): Promise<Engine> {
    if (record.node === null) return LOCAL_ENGINE;
    const hosts = this.#o.hosts;
    if (!hosts) throw new BeamstalkError("unreachable", `${record.app}'s database is on Swarm host ${record.node.slice(0, 12)}, and this server does not run the Swarm runner`, "start the server with --runner swarm");
    return new Engine(await hosts.engineEnv(record.node), await hosts.hostname(record.node));
  }

  /** Where `--node` pins a new database: null for this host; a clear error for a host that cannot take one. */
  async #placement(node: unknown): Promise<{ id: string; hostname: string } | null> {
    if (node === undefined || node === null || node === "") return null;
    if (typeof node !== "string") throw badRequest("node must be a host name, address or id");
    const hosts = this.#o.hosts;
    if (!hosts) throw badRequest("--node needs the Swarm runner: this server runs every database on its own host", "start the server with --runner swarm to use more than one host");
    const host = await hosts.find(node);
    if (host.id === hosts.controllerNode) return null;
    if (host.state !== "ready" || host.availability !== "active") {
      throw conflict(`${host.hostname} is ${host.state === "ready" ? host.availability : host.state}: a database cannot start there`, host.state === "ready" ? `beamstalk nodes:activate ${host.hostname}` : "beamstalk nodes shows the hosts");
    }
    return host;
  }

  /** A database on another host needs the server image there: sent over from this host (docker save | docker load). */
  async #imageOn(engine: Engine): Promise<void> {
    if ((await engine.exec(["docker", "image", "inspect", "--format", "{{.Id}}", "--", this.#image])).code === 0) return;
    const save = start(["docker", "save", "--", this.#image], { stdout: "pipe", stderr: "pipe" });
    const load = engine.start(["docker", "load", "--quiet"], { stdin: save.stdout as ReadableStream, stdout: "pipe", stderr: "pipe" });
    const [saved, loaded, saveErr, loadErr] = await Promise.all([save.exited, load.exited, new Response(save.stderr).text(), new Response(load.stderr).text(), new Response(load.stdout).text()]);
    if (saved !== 0 || loaded !== 0) throw new Error(`sending the PostgreSQL image to ${engine.where} failed: ${(saveErr + loadErr).trim().slice(-500)}`);
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

  async create(app: App, options: { size?: unknown; version?: unknown; node?: unknown }, userId: number | null): Promise<DatabaseInfo> {
    if (this.#o.unavailable) throw new BeamstalkError("bad_request", this.#o.unavailable.reason, this.#o.unavailable.hint);
    const size = options.size === undefined ? DEFAULT_SIZE : checkSize(options.size);
    if (options.version !== undefined && Number(options.version) !== POSTGRES_VERSION) {
      throw badRequest(`PostgreSQL ${String(options.version)} is not available`, `this host runs PostgreSQL ${POSTGRES_VERSION}`);
    }
    return this.#lock.run(app.name, async () => {
      if (this.#o.databases.get(app)) throw conflict(`${app.name} already has a database`, "`beamstalk pg` shows it");
      const pinned = await this.#placement(options.node);
      const password = new Secret(randomBytes(24).toString("hex"));
      const paths = volumePaths(this.#o.dataDir, app.name);
      const record = this.#o.databases.create(app, { version: POSTGRES_VERSION, size, password, volume: pinned ? volumeNames(app.name).data : paths.root, node: pinned?.id ?? null });
      const started = Date.now();
      try {
        const engine = await this.#engineOf(record);
        await this.#o.imageReady?.();
        if (!engine.local) await this.#imageOn(engine);
        await this.#o.network.ensure(app.name);
        await engine.remove(app.name); // a leftover of an earlier failed create
        const spec = this.#spec(app.name, size, engine);
        if (engine.local) {
          rmSync(paths.root, { recursive: true, force: true });
          mkdirSync(paths.data, { recursive: true, mode: 0o700 });
          mkdirSync(paths.conf, { recursive: true, mode: 0o755 });
          writeFileSync(paths.hba, hbaConf(app.name), { mode: 0o644 });
        } else {
          await engine.run(removeVolumesArgv(app.name), "removing an earlier attempt's volumes");
          await engine.run(writeHbaArgv(spec), "writing pg_hba.conf", { stdin: hbaConf(app.name) });
        }
        for (const argv of initArgvs(spec)) await engine.run(argv, "initdb");
        const id = await engine.run(serverRunArgv(spec), "starting PostgreSQL");
        await engine.waitReady(app.name);
        await engine.run(psqlStdinArgv(app.name), "creating the role and database", { stdin: setupSql(app.name, scramVerifier(password.reveal())) });
        this.#o.databases.update(app, { state: "available", containerId: id, error: null });
      } catch (err) {
        const message = (err as Error).message;
        this.#o.databases.update(app, { state: "failed", error: message });
        this.#o.logger.error("postgres.create_failed", { app: app.name, error: message });
        this.#o.activity.record(app.id, userId, "pg.create.failed", `PostgreSQL database could not be created: ${message.slice(0, 300)}`);
        throw new BeamstalkError("internal", `creating the database failed: ${message}`, "`beamstalk pg:destroy` removes what was made; then try again");
      }
      this.#o.activity.record(app.id, userId, "pg.create", `Created PostgreSQL ${POSTGRES_VERSION} database (size ${size})${pinned ? ` on ${pinned.hostname}` : ""}`);
      this.#o.logger.info("postgres.created", { app: app.name, size, ...(pinned ? { node: pinned.hostname } : {}), seconds: (Date.now() - started) / 1000 });
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
    const engine = await this.#engineOf(record).catch(() => null);
    const container = engine ? (await engine.status(app.name)).status : "unreachable";
    return {
      app: app.name,
      state: record.state,
      container,
      version: record.version,
      size: record.size,
      host: hostFor(app.name),
      port: 5432,
      node: record.node === null ? null : (engine?.where ?? record.node.slice(0, 12)),
      database: databaseName(app.name),
      user: databaseName(app.name),
      diskBytes: engine?.local ? diskUse(volumePaths(this.#o.dataDir, app.name).data) : container === "running" && engine ? await remoteDiskUse(engine, app.name) : 0,
      error: record.error,
      createdAt: record.createdAt,
      lastBackup: backups.find((b) => b.status === "succeeded") ?? null,
      failedBackup: newest?.status === "failed" ? newest : null,
    };
  }

  /**
   * pg:stop, pg:start, pg:restart. A stopped server keeps its data and is not revived
   * by the watch until pg:start; the app's DATABASE_URL stays (its connections fail
   * meanwhile). A restart is a fast shutdown and a start: connections are cut.
   */
  power(app: App, action: "stop" | "start" | "restart", userId: number | null): Promise<DatabaseInfo> {
    return this.#lock.run(app.name, async () => {
      const record = this.#require(app);
      const wanted = action === "start" ? "stopped" : "available";
      if (record.state !== wanted) {
        const hint = record.state === "stopped" ? "`beamstalk pg:start` starts it" : record.state === "available" ? "it is running" : "wait for it, or see `beamstalk pg`";
        throw conflict(`${app.name}'s database is ${record.state}; it cannot be ${action === "stop" ? "stopped" : action === "start" ? "started" : "restarted"}`, hint);
      }
      const engine = await this.#engineOf(record);
      const name = containerName(app.name);
      const started = Date.now();
      if (action === "stop") {
        await engine.run(["docker", "stop", "--time", "30", "--", name], "stopping PostgreSQL");
        this.#o.databases.update(app, { state: "stopped" });
      } else {
        const { status } = await engine.status(app.name);
        if (status === "missing") await this.#restartWith(app, record.size as DatabaseSize);
        else {
          await engine.run(action === "restart" ? ["docker", "restart", "--time", "30", "--", name] : ["docker", "start", "--", name], action === "restart" ? "restarting PostgreSQL" : "starting PostgreSQL");
          await engine.waitReady(app.name);
        }
        this.#o.databases.update(app, { state: "available", error: null });
      }
      const past = { stop: "Stopped", start: "Started", restart: "Restarted" }[action];
      this.#o.activity.record(app.id, userId, `pg.${action}`, `${past} PostgreSQL database`);
      this.#o.logger.info(`postgres.${action === "stop" ? "stopped" : action === "start" ? "started" : "restarted"}`, { app: app.name, ms: Date.now() - started });
      return this.#infoOf(app);
    });
  }

  /** pg:upgrade: a major version this host can run other than the current one; there is none yet, and it says so. */
  async upgrade(app: App, version: unknown): Promise<DatabaseInfo> {
    const record = this.#require(app);
    const to = Number(version);
    if (!Number.isSafeInteger(to) || to < 1) throw badRequest("give the major version to upgrade to, e.g. --version 16");
    if (to === record.version) throw conflict(`${app.name}'s database already runs PostgreSQL ${to}`);
    if (to < record.version) throw badRequest(`PostgreSQL cannot be downgraded (${record.version} to ${to})`, "restore a backup into a new database instead");
    throw new BeamstalkError(
      "conflict",
      `PostgreSQL ${to} is not available on this server: its database image has PostgreSQL ${POSTGRES_VERSION} only (Debian's packages)`,
      "an upgrade needs a second major version in the image (pg_upgrade runs between the two); until then: pg:backups:capture, then restore into a server of the new version",
    );
  }

  /** A succeeded backup's pg_dump archive (decrypted), after its file is checked against its sha256. */
  async download(app: App, id: number): Promise<{ backup: BackupRecord; stream: ReadableStream<Uint8Array> }> {
    this.#require(app);
    const backup = this.#o.backups.get(app, id);
    if (!backup) throw notFound(`${app.name} has no backup #${id}`, "`beamstalk pg:backups` lists them");
    if (backup.status !== "succeeded") throw conflict(`backup #${id} ${backup.status === "failed" ? "failed" : "is not finished"}; there is nothing to download`);
    if (!existsSync(backup.file)) throw conflict(`backup #${id}'s file is missing`);
    if ((await sha256Of(backup.file)) !== backup.sha256) throw conflict(`backup #${id}'s file does not match its sha256; it is not given out`);
    return { backup, stream: plainStream(backup.file, this.#o.backupKey ?? null) };
  }

  /**
   * pg:read_replicas:create: a second server that streams from the app's (PostgreSQL
   * streaming replication, hot standby: read-only queries), at
   * db-replica.<app>.internal, its URL set as DATABASE_READ_REPLICA_URL. On the
   * controller's host only, with the app's server.
   */
  createReplica(app: App, userId: number | null): Promise<ReplicaInfo> {
    return this.#lock.run(app.name, async () => {
      const record = this.#require(app);
      if (record.state !== "available") {
        throw conflict(`${app.name}'s database is ${record.state}; a read replica needs it running`, record.state === "stopped" ? "`beamstalk pg:start` starts it" : "wait for it, or see `beamstalk pg`");
      }
      if (record.replica === "available" || record.replica === "creating") throw conflict(`${app.name}'s database already has a read replica`, "`beamstalk pg:read_replicas` shows it");
      if (record.node !== null) throw badRequest("read replicas are made for databases on the controller's host", "this database runs on another Swarm host");
      const engine = await this.#engineOf(record);
      const { status } = await engine.status(app.name);
      if (status !== "running") throw conflict(`${app.name}'s database container is ${status}; a read replica needs it running`, "`beamstalk pg` shows it");
      const name = databaseName(app.name);
      const started = Date.now();
      this.#o.databases.setReplica(app, "creating");
      try {
        // The primary lets the app's role stream: the replication line in pg_hba.conf (servers made before it lack it) and the role's attribute.
        writeFileSync(volumePaths(this.#o.dataDir, app.name).hba, hbaConf(app.name), { mode: 0o644 });
        await engine.run(psqlStdinArgv(app.name), "allowing replication", { stdin: `ALTER ROLE ${name} REPLICATION;\nSELECT pg_reload_conf();\n` });
        await this.#removeReplica(engine, app.name);
        const data = replicaDataPath(this.#o.dataDir, app.name);
        mkdirSync(data, { recursive: true, mode: 0o700 });
        const spec = this.#spec(app.name, record.size as DatabaseSize, engine);
        const [own, base] = replicaInitArgvs(spec);
        await engine.run(own!, "preparing the replica's data directory");
        await engine.run(base!, "copying the database (pg_basebackup)", { stdin: `${record.password.reveal()}\n`, timeoutMs: 30 * 60_000 });
        await engine.run(replicaRunArgv(spec), "starting the read replica");
        await this.#replicaReady(engine, app.name);
        this.#o.databases.setReplica(app, "available");
      } catch (err) {
        const message = (err as Error).message;
        await this.#removeReplica(engine, app.name).catch(() => {});
        this.#o.databases.setReplica(app, "failed");
        this.#o.logger.error("postgres.replica_failed", { app: app.name, error: message });
        this.#o.activity.record(app.id, userId, "pg.replica.failed", `Read replica could not be created: ${message.slice(0, 300)}`);
        throw new BeamstalkError("internal", `creating the read replica failed: ${message}`, "the database itself is unchanged; try again");
      }
      this.#o.activity.record(app.id, userId, "pg.replica", "Created a read replica of the PostgreSQL database");
      this.#o.logger.info("postgres.replica_created", { app: app.name, seconds: (Date.now() - started) / 1000 });
      await this.#o.setConfig(app, { set: { DATABASE_READ_REPLICA_URL: replicaUrl(app.name, record.password) } }, userId);
      return this.#replicaInfo(app);
    });
  }

  /** pg:read_replicas: the app's replica (none, or one), with what the primary says of its stream. */
  async replicas(app: App): Promise<ReplicaInfo[]> {
    const record = this.#require(app);
    return record.replica === null ? [] : [await this.#replicaInfo(app)];
  }

  async #replicaInfo(app: App): Promise<ReplicaInfo> {
    const record = this.#require(app);
    const engine = await this.#engineOf(record);
    const inspected = await engine.exec(["docker", "container", "inspect", "--format", "{{.State.Status}}", "--", replicaContainerName(app.name)]);
    const container = inspected.code === 0 ? inspected.stdout.trim() : "missing";
    // The primary's view: the walsender's state and how many bytes of WAL the replica has yet to replay.
    const stat = record.state === "available"
      ? await engine.exec(psqlStdinArgv(app.name), { stdin: "\\pset tuples_only on\n\\pset format unaligned\nSELECT state || ' ' || COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint FROM pg_stat_replication LIMIT 1;\n" })
      : null;
    const [stream, lag] = (stat?.code === 0 ? stat.stdout.trim() : "").split(/\s+/);
    return { host: replicaHostFor(app.name), port: 5432, state: record.replica ?? "failed", container, stream: stream || null, lagBytes: lag === undefined || lag === "" ? null : Number(lag) };
  }

  async #replicaReady(engine: Engine, app: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ((await engine.exec(replicaExecArgv(app, ["pg_isready", "-q", "-h", "/var/run/postgresql", "-p", "5432"]))).code === 0) return;
      await Bun.sleep(200);
    }
    const logs = await engine.exec(["docker", "logs", "--tail", "20", "--", replicaContainerName(app)]);
    throw new Error(`the read replica did not become ready in ${timeoutMs / 1000} s: ${(logs.stderr + logs.stdout).trim().split("\n").slice(-5).join(" | ")}`);
  }

  /** The replica's container and its data directory; missing is fine. */
  async #removeReplica(engine: Engine, app: string): Promise<void> {
    await engine.exec(["docker", "stop", "--time", "30", "--", replicaContainerName(app)]);
    const removed = await engine.exec(["docker", "rm", "--force", "--", replicaContainerName(app)]);
    if (removed.code !== 0 && !/No such container/i.test(removed.stderr)) throw new Error(`removing ${replicaContainerName(app)} failed: ${removed.stderr.trim()}`);
    rmSync(replicaDataPath(this.#o.dataDir, app), { recursive: true, force: true });
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
    const engine = await this.#engineOf(this.#require(app));
    await engine.remove(app.name);
    await this.#o.network.ensure(app.name);
    const id = await engine.run(serverRunArgv(this.#spec(app.name, size, engine)), "starting PostgreSQL");
    this.#o.databases.update(app, { containerId: id });
    await engine.waitReady(app.name);
  }

  /** The server and its data, wherever they are. */
  async #removeServer(record: DatabaseRecord, graceSeconds?: number): Promise<void> {
    const engine = await this.#engineOf(record);
    if (record.replica !== null && engine.local) await this.#removeReplica(engine, record.app);
    await engine.remove(record.app, graceSeconds);
    if (engine.local) rmSync(volumePaths(this.#o.dataDir, record.app).root, { recursive: true, force: true });
    else await engine.run(removeVolumesArgv(record.app), "removing the database's volumes");
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
      await this.#removeServer(record);
      this.#o.databases.remove(app);
      this.#o.activity.record(app.id, userId, "pg.destroy", `Destroyed PostgreSQL database${finalBackup ? ` (final backup #${finalBackup.id})` : ""}`);
      this.#o.logger.info("postgres.destroyed", { app: app.name, final_backup: finalBackup?.id });
      if (record.state !== "creating") await this.#o.setConfig(app, { unset: record.replica === null ? ["DATABASE_URL"] : ["DATABASE_URL", "DATABASE_READ_REPLICA_URL"] }, userId).catch((err) => {
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
      const engine = await this.#engineOf(record);
      const { status } = await engine.status(app.name);
      if (status !== "running") throw new Error(`the database container is ${status}`);
      const result = await dumpTo(engine, app.name, backup.file, this.#o.backupKey ?? null);
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
        await restoreFrom(await this.#engineOf(record), app.name, backup.file, this.#o.backupKey ?? null);
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
    for (const seen of this.#o.databases.all()) {
      if (seen.state !== "available") continue;
      const app = appOf(seen);
      const look = async (record: DatabaseRecord) => {
        const engine = await this.#engineOf(record).catch(() => null);
        // A host that does not answer (down, or its agent not up yet) is left alone: its data is there.
        return { engine, status: engine ? (await engine.status(app.name)).status : ("unreachable" as const) };
      };
      const idle = (status: string) => status === "running" || status === "restarting" || status === "unreachable";
      if (idle((await look(seen)).status)) continue;
      await this.#lock
        .run(app.name, async () => {
          // Looked at again under the lock: a destroy (or a destroy and a create elsewhere) may have run meanwhile.
          const record = this.#o.databases.get(app);
          if (record?.state !== "available") return;
          const { engine, status } = await look(record);
          if (!engine || idle(status)) return;
          this.#o.logger.warn("postgres.reviving", { app: app.name, was: status, ...(engine.local ? {} : { node: engine.where }) });
          if (status === "missing") await this.#restartWith(app, record.size as DatabaseSize);
          else {
            await engine.run(["docker", "start", "--", containerName(app.name)], "starting PostgreSQL");
            await engine.waitReady(app.name);
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
      const record = this.#o.databases.get(app);
      // The app goes even when its database's host does not answer; what is left there is logged.
      if (record) await this.#removeServer(record, 10).catch((err) => this.#o.logger.error("postgres.remove_failed", { app: app.name, node: record.node, error: (err as Error).message }));
      else rmSync(volumePaths(this.#o.dataDir, app.name).root, { recursive: true, force: true });
      this.#o.databases.remove(app);
    });
  }
}

const capital = (word: string) => word[0]!.toUpperCase() + word.slice(1);

/** Enough of an App for the repositories, which key on id and name. */
function appOf(record: DatabaseRecord): App {
  return { id: record.appId, name: record.app, ownerId: 0, owner: "", createdAt: record.createdAt };
}

/** Bytes of the data directory on another host, as `du` inside the container counts them (0 when it cannot say). */
async function remoteDiskUse(engine: Engine, app: string): Promise<number> {
  const result = await engine.exec(diskUseArgv(app), { timeoutMs: 10_000 });
  const bytes = Number(result.stdout.trim().split(/\s/)[0]);
  return result.code === 0 && Number.isFinite(bytes) ? bytes : 0;
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
