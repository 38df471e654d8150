import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildImage, imageExists, type ImageRecipe, type StackBuildOptions, type StackBuildResult } from "../stack/index.ts";

/** The one PostgreSQL major version Debian bookworm ships. */
export const POSTGRES_VERSION = 15;
export const POSTGRES_IMAGE = `beamstalk/postgres:${POSTGRES_VERSION}`;
/** Where the server binaries live in the image (Debian's layout). */
export const POSTGRES_BIN = `/usr/lib/postgresql/${POSTGRES_VERSION}/bin`;

/**
 * beamstalk/postgres:15, built like the stack images: minbase + Debian's
 * postgresql-15. The package's scripts must neither start a server in the
 * build root (policy-rc.d) nor create the `main` cluster (createcluster.conf):
 * every database gets its own cluster in its own data directory.
 */
export function postgresRecipe(tag = POSTGRES_IMAGE): ImageRecipe {
  return {
    kind: "postgres",
    tag,
    packages: [`postgresql-${POSTGRES_VERSION}`],
    prepare(root) {
      writeFileSync(join(root, "usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 101\n");
      chmodSync(join(root, "usr/sbin/policy-rc.d"), 0o755);
      mkdirSync(join(root, "etc/postgresql-common"), { recursive: true });
      writeFileSync(join(root, "etc/postgresql-common/createcluster.conf"), "create_main_cluster = false\n");
    },
    finish(root) {
      rmSync(join(root, "usr/sbin/policy-rc.d"), { force: true });
    },
    changes: [
      `ENV PATH=${POSTGRES_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      `LABEL beamstalk.postgres.version=${POSTGRES_VERSION}`,
    ],
  };
}

export type PostgresImageOptions = Omit<StackBuildOptions, "tag"> & { tag?: string };

/** Builds the PostgreSQL image when it is missing; resolves with what was built, or null. */
export async function ensurePostgresImage(options: PostgresImageOptions): Promise<StackBuildResult | null> {
  const tag = options.tag ?? POSTGRES_IMAGE;
  if (await imageExists(tag)) return null;
  options.logger.warn("postgres.image.missing", { tag, action: "building" });
  options.onOutput?.(`-----> PostgreSQL image ${tag} is missing; building it (takes a few minutes)`);
  return buildImage(postgresRecipe(tag), options);
}
