import { Hono } from "hono";
import { BeamstalkError, badRequest, forbidden } from "../lib/errors.ts";
import type { Secret } from "../lib/secret.ts";
import type { App } from "../state/index.ts";
import type { BackupRecord } from "../state/backups.ts";
import type { DatabaseInfo, ReplicaInfo } from "../postgres/service.ts";
import { requireUser } from "./auth.ts";
import { type ApiDeps, type Env, appFor, readJson } from "./context.ts";

/** What the API asks of managed PostgreSQL (src/postgres's Postgres). */
export interface PostgresActions {
  create(app: App, options: { size?: unknown; version?: unknown; node?: unknown }, userId: number | null): Promise<DatabaseInfo>;
  info(app: App): Promise<DatabaseInfo>;
  url(app: App): Secret;
  scale(app: App, size: unknown, userId: number | null): Promise<DatabaseInfo>;
  destroy(app: App, userId: number | null): Promise<{ finalBackup: BackupRecord | null }>;
  capture(app: App, userId: number | null): Promise<BackupRecord>;
  list(app: App): BackupRecord[];
  restore(app: App, id: number, userId: number | null): Promise<BackupRecord>;
  power(app: App, action: "stop" | "start" | "restart", userId: number | null): Promise<DatabaseInfo>;
  upgrade(app: App, version: unknown): Promise<DatabaseInfo>;
  download(app: App, id: number): Promise<{ backup: BackupRecord; stream: ReadableStream<Uint8Array> }>;
  createReplica(app: App, userId: number | null): Promise<ReplicaInfo>;
  replicas(app: App): Promise<ReplicaInfo[]>;
}

const replicaJson = (r: ReplicaInfo) => ({ host: r.host, port: r.port, state: r.state, container: r.container, stream: r.stream, lag_bytes: r.lagBytes });

export const backupJson = (b: BackupRecord) => ({
  id: b.id,
  kind: b.kind,
  status: b.status,
  size: b.size,
  sha256: b.sha256,
  error: b.error,
  created_at: b.createdAt,
  finished_at: b.finishedAt,
});

const infoJson = (info: DatabaseInfo) => ({
  app: info.app,
  state: info.state,
  container: info.container,
  version: info.version,
  size: info.size,
  host: info.host,
  port: info.port,
  node: info.node,
  database: info.database,
  user: info.user,
  disk_bytes: info.diskBytes,
  error: info.error,
  created_at: info.createdAt,
  last_backup: info.lastBackup ? backupJson(info.lastBackup) : null,
  failed_backup: info.failedBackup ? backupJson(info.failedBackup) : null,
});

/**
 * Managed PostgreSQL at /api/apps/:app/pg. The URL (with its password) goes to
 * owners, admins and collaborators; viewers see the rest; anyone else gets 404.
 */
export function postgresRoutes(deps: ApiDeps, postgres: PostgresActions | undefined) {
  const r = new Hono<Env>();
  r.use(requireUser(deps));
  const pg = (): PostgresActions => {
    if (!postgres) throw new BeamstalkError("unreachable", "managed PostgreSQL is not available on this server");
    return postgres;
  };
  const withUrl = (app: App, info: DatabaseInfo, role: string) => ({
    ...infoJson(info),
    ...(role === "viewer" ? {} : { url: pg().url(app).reveal() }),
  });

  r.get("/", async (c) => {
    const { app, role } = appFor(deps, c.var.user, c.req.param("app")!, "read");
    return c.json(withUrl(app, await pg().info(app), role));
  });

  /** Body: `{"size": 0.6, "version": 15, "node": "host2"}`, all optional; choosing the host is for admins (hosts are theirs). */
  r.post("/", async (c) => {
    const { app, role } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    const body = await readJson(c);
    if (body.node !== undefined && !c.var.user.isAdmin) throw forbidden("only admins choose the host a database runs on", "leave out --node: it runs on the server's host");
    const info = await pg().create(app, { size: body.size, version: body.version, node: body.node }, c.var.user.id);
    deps.logger.info("pg.create", { app: app.name, user: c.var.user.email, size: info.size, ...(info.node ? { node: info.node } : {}) });
    return c.json(withUrl(app, info, role), 201);
  });

  r.post("/scale", async (c) => {
    const { app, role } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    const info = await pg().scale(app, (await readJson(c)).size, c.var.user.id);
    deps.logger.info("pg.scale", { app: app.name, user: c.var.user.email, size: info.size });
    return c.json(withUrl(app, info, role));
  });

  for (const action of ["stop", "start", "restart"] as const) {
    r.post(`/${action}`, async (c) => {
      const { app, role } = appFor(deps, c.var.user, c.req.param("app")!, "write");
      const info = await pg().power(app, action, c.var.user.id);
      deps.logger.info(`pg.${action}`, { app: app.name, user: c.var.user.email });
      return c.json(withUrl(app, info, role));
    });
  }

  r.get("/read_replicas", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "read");
    return c.json((await pg().replicas(app)).map(replicaJson));
  });

  r.post("/read_replicas", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    const replica = await pg().createReplica(app, c.var.user.id);
    deps.logger.info("pg.replica", { app: app.name, user: c.var.user.email });
    return c.json(replicaJson(replica), 201);
  });

  /** Body: `{"version": 16}`. */
  r.post("/upgrade", async (c) => {
    const { app, role } = appFor(deps, c.var.user, c.req.param("app")!, "manage");
    const info = await pg().upgrade(app, (await readJson(c)).version);
    return c.json(withUrl(app, info, role));
  });

  /** Body: `{"confirm": "<app>"}`. Takes a final backup first. */
  r.post("/destroy", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "manage");
    if ((await readJson(c)).confirm !== app.name) throw badRequest(`confirm with the app's name: --confirm ${app.name}`);
    const { finalBackup } = await pg().destroy(app, c.var.user.id);
    deps.logger.info("pg.destroy", { app: app.name, user: c.var.user.email, final_backup: finalBackup?.id });
    return c.json({ app: app.name, final_backup: finalBackup ? backupJson(finalBackup) : null });
  });

  r.get("/backups", (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "read");
    return c.json(pg().list(app).map(backupJson));
  });

  r.post("/backups", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    const backup = await pg().capture(app, c.var.user.id);
    deps.logger.info("pg.backup", { app: app.name, user: c.var.user.email, id: backup.id });
    return c.json(backupJson(backup), 201);
  });

  /** The backup's pg_dump archive (custom format, for pg_restore), decrypted; its data, so not for viewers. */
  r.get("/backups/:id/download", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    const id = Number(c.req.param("id"));
    if (!Number.isSafeInteger(id) || id < 1) throw badRequest("backup ids are positive whole numbers");
    const { backup, stream } = await pg().download(app, id);
    deps.logger.info("pg.backup_download", { app: app.name, user: c.var.user.email, id });
    return new Response(stream, {
      headers: {
        "content-type": "application/octet-stream",
        "content-disposition": `attachment; filename="${app.name}-backup-${backup.id}.dump"`,
      },
    });
  });

  r.post("/backups/:id/restore", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    const id = Number(c.req.param("id"));
    if (!Number.isSafeInteger(id) || id < 1) throw badRequest("backup ids are positive whole numbers");
    const backup = await pg().restore(app, id, c.var.user.id);
    deps.logger.info("pg.restore", { app: app.name, user: c.var.user.email, id });
    return c.json(backupJson(backup));
  });

  return r;
}
