import { join } from "node:path";
import { checkAppName } from "../lib/validate.ts";
import type { Secret } from "../lib/secret.ts";
import { type DatabaseSize, tuning } from "./sizes.ts";

/**
 * Everything the PostgreSQL module runs, as data (DESIGN §5.1): docker argv
 * arrays and the files it writes. No password ever appears here: the role's
 * password reaches the server only as a SCRAM verifier, over psql's stdin.
 */
export const PORT = 5432;
export const DATA_MOUNT = "/var/lib/postgresql/data";
export const CONF_MOUNT = "/etc/beamstalk-postgres";
export const SOCKET_DIR = "/var/run/postgresql";
export const LABEL = { postgres: "beamstalk.postgres", size: "beamstalk.postgres.size" } as const;

/** On the app's network only; never a published port. */
export const hostFor = (app: string) => `db.${checkAppName(app)}.internal`;
export const containerName = (app: string) => `beamstalk-${checkAppName(app)}-postgres`;
/** Database and role are named after the app ('-' is not welcome in an unquoted SQL identifier). */
/**
 * The app's database and role name. PostgreSQL reserves names starting with
 * `pg_` (an app named `pg-shop` would get one), so those get an `app_` prefix;
 * each app has its own server, so the 63-byte cut can collide with nothing.
 */
export const databaseName = (app: string) => {
  const name = checkAppName(app).replaceAll("-", "_");
  return name.startsWith("pg_") ? `app_${name}`.slice(0, 63) : name;
};

export function volumePaths(dataDir: string, app: string) {
  const root = join(dataDir, "postgres", checkAppName(app));
  return { root, data: join(root, "data"), conf: join(root, "conf"), hba: join(root, "conf", "pg_hba.conf") };
}

/**
 * On another host the controller cannot write files, so the server's data and
 * its pg_hba.conf live in two named volumes of that host's engine instead.
 */
export function volumeNames(app: string) {
  const name = checkAppName(app);
  return { data: `beamstalk-${name}-pgdata`, conf: `beamstalk-${name}-pgconf` };
}

export const backupDir = (dataDir: string, app: string) => join(dataDir, "backups", checkAppName(app));

/** The app's URL; the password is revealed here, for the config var and for nothing else. */
export function databaseUrl(app: string, password: Secret): string {
  const name = databaseName(app);
  return `postgres://${name}:${encodeURIComponent(password.reveal())}@${hostFor(app)}:${PORT}/${name}`;
}

/** The superuser logs in only on the container's socket (docker exec as postgres); the app's role with SCRAM over the network. */
export function hbaConf(app: string): string {
  const name = databaseName(app);
  return [
    "# written by Beamstalk: no secrets here",
    "local all postgres peer",
    "host  all postgres all reject",
    `host  ${name} ${name} all scram-sha-256`,
    // a read replica (pg:read_replicas:create) streams WAL as the app's role
    `host  replication ${name} all scram-sha-256`,
    "",
  ].join("\n");
}

export interface ServerSpec {
  app: string;
  size: DatabaseSize;
  image: string;
  network: string;
  dataDir: string;
  /** `bind`: directories under dataDir on this host (the default); `volume`: named volumes on the engine that runs it. */
  storage?: "bind" | "volume";
  /** Extra labels on every object (an installation or test id). */
  labels?: Record<string, string>;
}

function labelArgs(labels: Record<string, string>): string[] {
  return Object.entries(labels).flatMap(([key, value]) => ["--label", `${key}=${value}`]);
}

function checkPath(path: string): string {
  if (!path.startsWith("/") || /[,:\n]/.test(path)) throw new Error(`data directory path must be absolute, without ',' ':' or newlines: ${path}`);
  return path;
}

function mounts(spec: ServerSpec, withConf: boolean): string[] {
  if (spec.storage === "volume") {
    const names = volumeNames(spec.app);
    const label = `volume-label=${LABEL.postgres}=${spec.app}`;
    const out = ["--mount", `type=volume,source=${names.data},target=${DATA_MOUNT},${label}`];
    if (withConf) out.push("--mount", `type=volume,source=${names.conf},target=${CONF_MOUNT},readonly,${label}`);
    return out;
  }
  const paths = volumePaths(spec.dataDir, spec.app);
  const out = ["--mount", `type=bind,source=${checkPath(paths.data)},target=${DATA_MOUNT}`];
  if (withConf) out.push("--mount", `type=bind,source=${checkPath(paths.conf)},target=${CONF_MOUNT},readonly`);
  return out;
}

/** The server's own arguments: sizes as `-c` options, no secrets. */
export function serverArgs(size: DatabaseSize): string[] {
  const settings: Record<string, string> = {
    listen_addresses: "*",
    port: String(PORT),
    hba_file: `${CONF_MOUNT}/pg_hba.conf`,
    password_encryption: "scram-sha-256",
    ...tuning(size).settings,
  };
  return ["postgres", "-D", DATA_MOUNT, ...Object.entries(settings).flatMap(([key, value]) => ["-c", `${key}=${value}`])];
}

/** What the server and its replica run with: memory from the size, restarted by the engine, a fast shutdown on stop. */
function runOptions(size: DatabaseSize): string[] {
  const t = tuning(size);
  return [
    "--user", "postgres",
    "--memory", `${t.memoryBytes}b`,
    "--memory-swap", `${t.memoryBytes}b`,
    "--shm-size", `${t.shmBytes}b`,
    "--restart", "unless-stopped",
    "--stop-signal", "SIGINT",
    "--stop-timeout", "60",
    "--security-opt", "no-new-privileges:true",
    "--log-opt", "max-size=10m",
    "--log-opt", "max-file=3",
  ];
}

/**
 * The read replica (pg:read_replicas:create): a second server on the controller's
 * host that streams from the app's server, at db-replica.<app>.internal, its data
 * directory next to the primary's (pg:destroy removes both).
 */
export const replicaContainerName = (app: string) => `${containerName(app)}-replica`;
export const replicaHostFor = (app: string) => `db-replica.${checkAppName(app)}.internal`;
export const replicaDataPath = (dataDir: string, app: string) => join(volumePaths(dataDir, app).root, "replica");

export function replicaUrl(app: string, password: Secret): string {
  const name = databaseName(app);
  return `postgres://${name}:${encodeURIComponent(password.reveal())}@${replicaHostFor(app)}:${PORT}/${name}`;
}

/**
 * One-off containers that make the replica's data directory: owned by postgres, then
 * pg_basebackup from the primary over the app's network, as the app's role, writing
 * standby.signal and primary_conninfo (-R). The password is read from stdin by a
 * constant script: never in an argv, nor in the container's environment as Docker
 * records it (docker inspect).
 */
export function replicaInitArgvs(spec: Omit<ServerSpec, "size">): string[][] {
  const data = checkPath(replicaDataPath(spec.dataDir, spec.app));
  const labels = labelArgs({ ...spec.labels, [LABEL.postgres]: spec.app });
  const mount = ["--mount", `type=bind,source=${data},target=${DATA_MOUNT}`];
  return [
    ["docker", "run", "--rm", "--network", "none", "--user", "root", ...labels, ...mount, "--", spec.image, "install", "-d", "-o", "postgres", "-g", "postgres", "-m", "0700", DATA_MOUNT],
    [
      "docker", "run", "--rm", "-i", "--network", spec.network, "--user", "postgres", ...labels, ...mount, "--", spec.image,
      "bash", "-c", 'IFS= read -r PGPASSWORD && export PGPASSWORD && exec pg_basebackup "$@"', "pg_basebackup",
      "-h", hostFor(spec.app), "-p", String(PORT), "-U", databaseName(spec.app), "-D", DATA_MOUNT, "-R", "-X", "stream", "--checkpoint=fast", "--no-password",
    ],
  ];
}

/** Runs argv as the postgres user inside the replica's container. */
export const replicaExecArgv = (app: string, argv: string[]) => ["docker", "exec", "--user", "postgres", replicaContainerName(app), ...argv];

/** `docker run` for the replica: as the server, under its own name and alias, its own data, the primary's pg_hba.conf. */
export function replicaRunArgv(spec: ServerSpec): string[] {
  const mounts = [
    "--mount", `type=bind,source=${checkPath(replicaDataPath(spec.dataDir, spec.app))},target=${DATA_MOUNT}`,
    "--mount", `type=bind,source=${checkPath(volumePaths(spec.dataDir, spec.app).conf)},target=${CONF_MOUNT},readonly`,
  ];
  return runArgv(spec, replicaContainerName(spec.app), replicaHostFor(spec.app), { "beamstalk.postgres.role": "replica" }, mounts, ["-c", "hot_standby=on"]);
}

/** `docker run` for the server: the app's network under db.<app>.internal, memory from the size, restarted by the engine. */
export function serverRunArgv(spec: ServerSpec): string[] {
  return runArgv(spec, containerName(spec.app), hostFor(spec.app), {}, mounts(spec, true), []);
}

function runArgv(spec: ServerSpec, name: string, host: string, labels: Record<string, string>, mountArgs: string[], extra: string[]): string[] {
  return [
    "docker", "run", "--detach",
    "--name", name,
    "--hostname", host,
    "--network", spec.network,
    "--network-alias", host,
    ...labelArgs({ ...spec.labels, [LABEL.postgres]: spec.app, [LABEL.size]: String(spec.size), ...labels }),
    ...runOptions(spec.size),
    ...mountArgs,
    "--", spec.image,
    ...serverArgs(spec.size), ...extra,
  ];
}

/** One-off containers that prepare the data directory: owned by postgres, mode 0700, then initdb. */
export function initArgvs(spec: Omit<ServerSpec, "size" | "network">): string[][] {
  const base = ["docker", "run", "--rm", "--network", "none", ...labelArgs({ ...spec.labels, [LABEL.postgres]: spec.app }), ...mounts({ ...spec, size: 0.6, network: "none" }, false)];
  return [
    [...base.slice(0, 3), "--user", "root", ...base.slice(3), "--", spec.image, "install", "-d", "-o", "postgres", "-g", "postgres", "-m", "0700", DATA_MOUNT],
    [
      ...base.slice(0, 3), "--user", "postgres", ...base.slice(3), "--", spec.image,
      "initdb", "-D", DATA_MOUNT, "--username=postgres", "--auth-local=peer", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8",
    ],
  ];
}

/** pg_hba.conf into the conf volume (storage `volume`), read from stdin: `dd` writes it, no shell. */
export function writeHbaArgv(spec: Omit<ServerSpec, "size" | "network">): string[] {
  const names = volumeNames(spec.app);
  return [
    "docker", "run", "--rm", "-i", "--user", "root", "--network", "none", ...labelArgs({ ...spec.labels, [LABEL.postgres]: spec.app }),
    "--mount", `type=volume,source=${names.conf},target=${CONF_MOUNT},volume-label=${LABEL.postgres}=${spec.app}`,
    "--", spec.image, "dd", `of=${CONF_MOUNT}/pg_hba.conf`, "status=none",
  ];
}

/** The server's volumes on its engine (storage `volume`): what pg:destroy removes there. */
export const removeVolumesArgv = (app: string) => ["docker", "volume", "rm", "--force", "--", volumeNames(app).data, volumeNames(app).conf];

/** Bytes of the data directory, measured inside the server's container (a volume on another host is not on this disk). */
export const diskUseArgv = (app: string) => execArgv(app, ["du", "-sb", DATA_MOUNT]);

/** Runs argv as the postgres user inside the server's container; `-i` when it reads stdin. */
export function execArgv(app: string, argv: string[], options: { stdin?: boolean } = {}): string[] {
  return ["docker", "exec", ...(options.stdin ? ["-i"] : []), "--user", "postgres", containerName(app), ...argv];
}

export const readyArgv = (app: string) => execArgv(app, ["pg_isready", "-q", "-h", SOCKET_DIR, "-p", String(PORT)]);

/** psql reading SQL from stdin, stopping at the first error. */
export const psqlStdinArgv = (app: string, database = "postgres") =>
  execArgv(app, ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", SOCKET_DIR, "-d", database, "-f", "-"], { stdin: true });

/** The role and the database, with the password as its SCRAM verifier. Fed to psql on stdin. */
export function setupSql(app: string, verifier: string): string {
  if (!/^SCRAM-SHA-256\$[A-Za-z0-9+/=:$]+$/.test(verifier)) throw new Error("setupSql: not a SCRAM verifier");
  const name = databaseName(app);
  return [
    `CREATE ROLE ${name} LOGIN PASSWORD '${verifier}';`,
    `CREATE DATABASE ${name} OWNER ${name};`,
    `REVOKE ALL ON DATABASE ${name} FROM PUBLIC;`,
    `GRANT ALL ON DATABASE ${name} TO ${name};`,
    "",
  ].join("\n");
}

/** pg_dump in custom format to stdout, one consistent snapshot. */
export const dumpArgv = (app: string) => execArgv(app, ["pg_dump", "-Fc", "--no-password", "-h", SOCKET_DIR, "-d", databaseName(app)]);

/** Lists an archive read from stdin: proves it is a whole, readable pg_dump archive. */
export const listArgv = (app: string) => execArgv(app, ["pg_restore", "--list"], { stdin: true });

/** Restores an archive read from stdin into the app's database: all of it, or nothing. */
export const restoreArgv = (app: string) =>
  execArgv(
    app,
    ["pg_restore", "--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--no-password", "-h", SOCKET_DIR, "-d", databaseName(app)],
    { stdin: true },
  );
