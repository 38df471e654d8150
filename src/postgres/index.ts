export { POSTGRES_IMAGE, POSTGRES_VERSION, ensurePostgresImage, postgresRecipe } from "./image.ts";
export { BackupScheduler, DEFAULT_BACKUP_TIME, nextRun } from "./scheduler.ts";
export { type ConfigChange, type DatabaseHosts, type DatabaseInfo, Postgres, type PostgresOptions } from "./service.ts";
export { DEFAULT_RETENTION, type Retention } from "./retention.ts";
export { SIZES, type DatabaseSize, checkSize, tuning } from "./sizes.ts";
export { containerName, databaseName, hostFor } from "./spec.ts";
