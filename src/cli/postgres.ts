import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { PSQL_FROM_URL } from "../lib/psql.ts";
import { BeamstalkError } from "../lib/errors.ts";
import { type Cli, enc } from "./context.ts";
import { command } from "./define.ts";
import { runRemote } from "./ps-remote.ts";
import { runOneOff } from "./run.ts";
import { info, printRecord, printTable } from "./output.ts";

interface BackupJson {
  id: number;
  kind: string;
  status: string;
  size: number | null;
  sha256: string | null;
  error: string | null;
  created_at: string;
}

interface DatabaseJson {
  state: string;
  container: string;
  version: number;
  size: number;
  host: string;
  node: string | null;
  database: string;
  disk_bytes: number;
  error: string | null;
  url?: string;
  last_backup: BackupJson | null;
  failed_backup: BackupJson | null;
}

const path = async (cli: Cli, rest = "") => `/api/apps/${enc(await cli.app())}/pg${rest}`;
const mb = (bytes: number | null) => (bytes === null ? "-" : `${(bytes / 1e6).toFixed(1)} MB`);

function render(db: DatabaseJson): void {
  printRecord({
    state: db.state === "available" && db.container !== "running" ? `${db.state} (container ${db.container})` : db.state,
    version: db.version,
    size: `${db.size} GiB`,
    disk: mb(db.disk_bytes),
    host: db.host,
    ...(db.node ? { "runs on": db.node } : {}),
    database: db.database,
    ...(db.url ? { url: db.url } : {}),
    "last backup": db.last_backup ? `#${db.last_backup.id} ${db.last_backup.created_at}` : "none",
    ...(db.failed_backup ? { "FAILED backup": `#${db.failed_backup.id} ${db.failed_backup.created_at}: ${db.failed_backup.error}` } : {}),
    ...(db.error ? { error: db.error } : {}),
  });
}

export const pg = command({
  name: "pg",
  aliases: ["databases"],
  description: "Show the app's PostgreSQL database: state, size, version, disk use, last backup (and its URL, to those who may write)",
  app: true,
  data: true,
  async run(_args, cli) {
    const db = await cli.client().get<DatabaseJson>(await path(cli));
    cli.print(db, () => render(db));
  },
});

export const pgCreate = command({
  name: "pg:create",
  aliases: ["create_database"],
  description: "Create a PostgreSQL database for the app and set its DATABASE_URL (a rolling restart)",
  app: true,
  data: true,
  args: {
    size: { type: "string", description: "GiB of memory: 0.6, 1.7, 4, 8, 16, 32, 64, 128 (default 0.6)" },
    version: { type: "string", description: "PostgreSQL major version (15)" },
    node: { type: "string", description: "On a Swarm: the host it is pinned to (name, address or id; admins only). Default: the server's host" },
  },
  async run(args, cli) {
    const body = { ...(args.size ? { size: Number(args.size) } : {}), ...(args.version ? { version: Number(args.version) } : {}), ...(args.node ? { node: args.node } : {}) };
    const db = await cli.client().post<DatabaseJson>(await path(cli), body);
    cli.print(db, () => {
      info(`Created PostgreSQL ${db.version} (size ${db.size})${db.node ? ` on ${db.node}` : ""}; DATABASE_URL is set.`);
      render(db);
    });
  },
});

export const pgScale = command({
  name: "pg:scale",
  aliases: ["scale_database"],
  description: "Restart the database with another size (memory and settings); the data stays",
  app: true,
  args: { size: { type: "string", required: true, description: "GiB of memory: 0.6, 1.7, 4, 8, 16, 32, 64, 128" } },
  async run(args, cli) {
    const db = await cli.client().post<DatabaseJson>(await path(cli, "/scale"), { size: Number(args.size) });
    info(`Database scaled to ${db.size}.`);
  },
});

function powerCommand(action: "stop" | "start" | "restart", description: string, done: string) {
  return command({
    name: `pg:${action}`,
    description,
    app: true,
    async run(_args, cli) {
      await cli.client().post<DatabaseJson>(await path(cli, `/${action}`));
      info(done);
    },
  });
}

export const pgStop = powerCommand("stop", "Stop the database (its data stays; nothing revives it until pg:start; the app's connections fail meanwhile)", "Database stopped. `beamstalk pg:start` starts it again.");
export const pgStart = powerCommand("start", "Start a stopped database", "Database started.");
export const pgRestart = powerCommand("restart", "Restart the database server (open connections are cut; the data stays)", "Database restarted.");

export const pgUpgrade = command({
  name: "pg:upgrade",
  description: "Upgrade the database to another major PostgreSQL version (only where the server's image has a second one)",
  app: true,
  args: { version: { type: "string", required: true, description: "the major version, e.g. 16" } },
  async run(args, cli) {
    const db = await cli.client().post<DatabaseJson>(await path(cli, "/upgrade"), { version: Number(args.version) });
    info(`Database upgraded to PostgreSQL ${db.version}.`);
  },
});

interface ReplicaJson {
  host: string;
  port: number;
  state: string;
  container: string;
  stream: string | null;
  lag_bytes: number | null;
}

export const pgReadReplicasCreate = command({
  name: "pg:read_replicas:create",
  description: "Add a read replica that streams from the app's database; its URL becomes DATABASE_READ_REPLICA_URL (a rolling restart)",
  app: true,
  async run(_args, cli) {
    const replica = await cli.client().post<ReplicaJson>(await path(cli, "/read_replicas"));
    info(`Read replica at ${replica.host} is ${replica.stream ?? replica.state}; DATABASE_READ_REPLICA_URL is set.`);
  },
});

export const pgReadReplicas = command({
  name: "pg:read_replicas",
  description: "Show the app's read replica: its state and how far it is behind",
  app: true,
  data: true,
  async run(_args, cli) {
    const replicas = await cli.client().get<ReplicaJson[]>(await path(cli, "/read_replicas"));
    cli.print(replicas, () =>
      printTable(
        replicas.map((r) => ({ ...r, stream: r.stream ?? "-", lag: r.lag_bytes === null ? "-" : `${r.lag_bytes} bytes` })),
        ["host", "state", "container", "stream", "lag"],
        "no read replica; `beamstalk pg:read_replicas:create` adds one",
      ),
    );
  },
});

export const pgBackupsDownload = command({
  name: "pg:backups:download",
  description: "Download a backup as a pg_dump archive (for pg_restore); never overwrites a file",
  app: true,
  args: {
    id: { type: "positional", required: true, description: "backup id (see pg:backups)" },
    output: { type: "string", alias: "o", description: "file to write (default: <app>-backup-<id>.dump here)" },
  },
  async run(args, cli) {
    const id = Number(args.id);
    if (!Number.isSafeInteger(id) || id < 1) throw new BeamstalkError("usage", "give a backup id", "`beamstalk pg:backups` lists them");
    const name = await cli.app();
    const file = args.output ?? `${name}-backup-${id}.dump`;
    if (existsSync(file)) throw new BeamstalkError("usage", `${file} already exists; it was left as it is`, "choose another file with --output");
    const res = await cli.client().open("GET", await path(cli, `/backups/${id}/download`), { accept: "application/octet-stream" });
    // Written to a file of our own first (O_EXCL), renamed when complete: a cut download leaves no half file under the name.
    const partial = `${file}.part-${process.pid}`;
    const fd = openSync(partial, "wx", 0o600);
    const hash = createHash("sha256");
    let bytes = 0;
    try {
      for await (const chunk of res.body!) {
        writeSync(fd, chunk);
        hash.update(chunk);
        bytes += chunk.length;
      }
      closeSync(fd);
      if (existsSync(file)) throw new BeamstalkError("usage", `${file} appeared meanwhile; it was left as it is`);
      renameSync(partial, file);
    } catch (err) {
      try { closeSync(fd); } catch { /* closed already */ }
      rmSync(partial, { force: true });
      throw err instanceof BeamstalkError ? err : new BeamstalkError("unreachable", `the download of backup #${id} broke off: ${(err as Error).message}`, "nothing was written; try again");
    }
    info(`Backup #${id} written to ${file} (${bytes} bytes, sha256 ${hash.digest("hex")}); restore it with pg_restore.`);
  },
});

export const pgDestroy = command({
  name: "pg:destroy",
  aliases: ["delete_database"],
  description: "Take a final backup, then remove the database and unset DATABASE_URL",
  app: true,
  args: { confirm: { type: "string", description: "the app's name, to confirm" } },
  async run(args, cli) {
    const name = await cli.app();
    if (args.confirm !== name) throw new BeamstalkError("usage", "this destroys the database", `confirm with --confirm ${name}`);
    const res = await cli.client().post<{ final_backup: BackupJson | null }>(await path(cli, "/destroy"), { confirm: name });
    info(`Database destroyed.${res.final_backup ? ` Final backup #${res.final_backup.id} is kept.` : ""}`);
  },
});

export const pgBackups = command({
  name: "pg:backups",
  description: "List the database's backups (id, size, time, sha256)",
  app: true,
  data: true,
  async run(_args, cli) {
    const list = await cli.client().get<BackupJson[]>(await path(cli, "/backups"));
    cli.print(list, () =>
      printTable(
        list.map((b) => ({ ...b, size: mb(b.size), time: b.created_at, sha256: b.sha256 ?? b.error })),
        ["id", "kind", "status", "size", "time", "sha256"],
        "no backups yet",
      ),
    );
  },
});

export const pgBackupsCapture = command({
  name: "pg:backups:capture",
  description: "Take a backup of the database now",
  app: true,
  data: true,
  async run(_args, cli) {
    const b = await cli.client().post<BackupJson>(await path(cli, "/backups"));
    cli.print(b, () => info(`Backup #${b.id}: ${mb(b.size)}, sha256 ${b.sha256}`));
  },
});

export const pgBackupsRestore = command({
  name: "pg:backups:restore",
  description: "Restore a backup into the app's database (replaces what is there; all or nothing)",
  app: true,
  args: { id: { type: "positional", required: true, description: "backup id (see pg:backups)" } },
  async run(args, cli) {
    const id = Number(args.id);
    if (!Number.isSafeInteger(id) || id < 1) throw new BeamstalkError("usage", "give a backup id", "`beamstalk pg:backups` lists them");
    await cli.client().post<BackupJson>(await path(cli, `/backups/${id}/restore`));
    info(`Backup #${id} restored.`);
  },
});

/**
 * psql runs in a one-off container of the app (beamstalk/run has postgresql-client):
 * the URL comes from the job's environment, never from a command line.
 */
export const pgPsql = command({
  name: "pg:psql",
  description: "Open psql on the app's database (over SSH, inside a replica, on a terminal); with -c SQL, run it in a one-off container",
  app: true,
  args: { command: { type: "string", alias: "c", description: "SQL to run (psql -c)" } },
  async run(args, cli) {
    const name = await cli.app();
    if (!args.command) {
      if (process.stdin.isTTY !== true) throw new BeamstalkError("usage", "interactive psql needs a terminal", `for scripts: beamstalk pg:psql -a ${name} -c 'SELECT 1'`);
      await runRemote(cli, ["psql", name], true);
      return;
    }
    // A constant script (the same as over SSH); the SQL is its own argv element after it, never parsed.
    const argv = ["bash", "-c", PSQL_FROM_URL, "psql", "-v", "ON_ERROR_STOP=1", "-c", args.command];
    await runOneOff(cli, name, { argv });
  },
});
