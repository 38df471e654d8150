import { badRequest } from "../lib/errors.ts";

/** Database sizes in GiB of memory, as GIGALIXIR sells them. */
export const SIZES = [0.6, 1.7, 4, 8, 16, 32, 64, 128] as const;
export type DatabaseSize = (typeof SIZES)[number];
export const DEFAULT_SIZE: DatabaseSize = 0.6;

const GIB = 1024 ** 3;
const MAX_CONNECTIONS: Record<DatabaseSize, number> = { 0.6: 25, 1.7: 50, 4: 100, 8: 200, 16: 300, 32: 400, 64: 500, 128: 500 };

export interface Tuning {
  memoryBytes: number;
  /** /dev/shm for parallel query workers' dynamic shared memory. */
  shmBytes: number;
  /** PostgreSQL settings, in kB where they are sizes. */
  settings: Record<string, string>;
}

export function checkSize(value: unknown): DatabaseSize {
  const size = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof size !== "number" || !(SIZES as readonly number[]).includes(size)) {
    throw badRequest(`invalid database size ${JSON.stringify(value)}`, `sizes (GiB of memory): ${SIZES.join(", ")}`);
  }
  return size as DatabaseSize;
}

/** Memory and server settings for a size: shared_buffers 25%, effective_cache_size 75%, work_mem from what is left per connection. */
export function tuning(size: DatabaseSize): Tuning {
  const memoryBytes = Math.round(size * GIB);
  const kb = Math.floor(memoryBytes / 1024);
  const connections = MAX_CONNECTIONS[size];
  return {
    memoryBytes,
    shmBytes: Math.max(64 * 1024 ** 2, Math.round(memoryBytes / 8)),
    settings: {
      max_connections: String(connections),
      shared_buffers: `${Math.floor(kb * 0.25)}kB`,
      effective_cache_size: `${Math.floor(kb * 0.75)}kB`,
      work_mem: `${Math.max(4096, Math.floor((kb * 0.25) / connections))}kB`,
      maintenance_work_mem: `${Math.min(2 * 1024 * 1024, Math.max(16384, Math.floor(kb * 0.05)))}kB`,
    },
  };
}
