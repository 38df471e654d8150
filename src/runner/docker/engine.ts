import { randomInt } from "node:crypto";
import { closeSync, openSync, readSync, statSync } from "node:fs";
import type Docker from "dockerode";
import { BeamstalkError } from "../../lib/errors.ts";
import { Secret } from "../../lib/secret.ts";
import type { Replica, ReplicaStats } from "../types.ts";

/** What both engines (one Docker host, a Swarm) share: boot errors, slug checks, error mapping, names, stats arithmetic. */

/** Thrown by start() when a replica cannot boot; `output` holds the boot script's lines only. */
export class ReplicaBootError extends Error {
  readonly output: string[];
  constructor(message: string, output: string[]) {
    super(message);
    this.name = "ReplicaBootError";
    this.output = output;
  }
}

export function statusOf(err: unknown): number | undefined {
  return typeof err === "object" && err !== null && "statusCode" in err ? Number((err as { statusCode: unknown }).statusCode) : undefined;
}

export function engineError(err: unknown, doing: string): Error {
  if (err instanceof BeamstalkError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === "ENOENT" || code === "ECONNREFUSED" || code === "EACCES") {
    return new BeamstalkError("unreachable", `the Docker engine is not reachable (${code}) while ${doing}`, "is dockerd running, and may this user use /var/run/docker.sock?");
  }
  const detail = (err as { json?: { message?: string } })?.json?.message ?? (err as Error)?.message ?? String(err);
  return new BeamstalkError("internal", `docker: ${doing}: ${detail}`);
}

/** Every Secret a spec hands the engine: its env and its slug token. */
export function secretsOf(spec: { env: Record<string, unknown>; slugUrl?: { token: Secret } | undefined }): unknown[] {
  return [...Object.values(spec.env), spec.slugUrl?.token];
}

/** The engine's messages may quote the create body: take every Secret value out of them. */
export function redactError(err: Error, secrets: readonly unknown[]): Error {
  for (const value of secrets) {
    if (value instanceof Secret && value.reveal().length > 0) err.message = err.message.replaceAll(value.reveal(), "[REDACTED]");
  }
  return err;
}

export function randomSuffix(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  return Array.from({ length: 6 }, () => alphabet[randomInt(alphabet.length)]).join("");
}

export function byIdentity(a: Replica, b: Replica): number {
  return a.app.localeCompare(b.app) || a.release - b.release || a.process.localeCompare(b.process) || a.index - b.index;
}

/** One stats sample (stream: false carries the previous one too) as memory and percent of one CPU. */
export function statsOf(s: Docker.ContainerStats): ReplicaStats {
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
  const systemDelta = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats.online_cpus ?? 1;
  return {
    memoryBytes: s.memory_stats.usage ?? 0,
    memoryLimitBytes: s.memory_stats.limit ?? 0,
    cpuPercent: systemDelta > 0 ? Math.round((cpuDelta / systemDelta) * cpus * 1000) / 10 : 0,
  };
}

/** A missing or non-gzip slug fails before any container exists, with a clear message. */
export function checkSlug(path: string): void {
  let fd: number | undefined;
  try {
    if (!statSync(path).isFile()) throw new Error("not a file");
    fd = openSync(path, "r");
    const magic = Buffer.alloc(2);
    if (readSync(fd, magic, 0, 2, 0) !== 2 || magic[0] !== 0x1f || magic[1] !== 0x8b) throw new Error("not a gzip archive");
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === "ENOENT" ? "does not exist" : (err as Error).message;
    throw new ReplicaBootError(`slug ${path} ${why}`, []);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
