import { LOG_SOURCES, type LogEntry, type LogSource } from "./types.ts";

/** The CLI's line: `2026-11-26T17:00:00.123Z web.1[app]: text`. */
export function formatEntry(entry: LogEntry): string {
  return `${entry.time} ${entry.replica}[${entry.source}]: ${entry.line}`;
}

/** On disk, one JSON object per line: a logged line may hold anything, newlines included. */
export function encodeEntry(entry: LogEntry): string {
  return JSON.stringify({ t: entry.time, s: entry.source, r: entry.replica, l: entry.line }) + "\n";
}

/** Null for a line that is not one of ours (a torn write after a crash, say). */
export function decodeEntry(text: string): LogEntry | null {
  try {
    const o = JSON.parse(text) as { t?: unknown; s?: unknown; r?: unknown; l?: unknown };
    if (typeof o.t !== "string" || typeof o.l !== "string" || typeof o.r !== "string") return null;
    if (!LOG_SOURCES.includes(o.s as LogSource)) return null;
    return { time: o.t, source: o.s as LogSource, replica: o.r, line: o.l };
  } catch {
    return null;
  }
}
