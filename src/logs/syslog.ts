import type { LogEntry } from "./types.ts";

/** local7 (23) × 8 + informational (6): what Heroku-style syslog drains expect. */
const PRI = 23 * 8 + 6;

/** Printable US-ASCII without spaces, cut to max, or "-" (RFC 5424 §6.2 header fields). */
function field(value: string, max: number): string {
  const clean = value.replace(/[^\x21-\x7e]/g, "").slice(0, max);
  return clean === "" ? "-" : clean;
}

/**
 * One RFC 5424 message: `<190>1 TIME HOSTNAME APP-NAME PROCID MSGID SD MSG`, with
 * the app as HOSTNAME, the source (app, build, router, platform) as APP-NAME and
 * the replica (web.1) as PROCID.
 */
export function syslogMessage(app: string, entry: LogEntry): string {
  return `<${PRI}>1 ${entry.time} ${field(app, 255)} ${field(entry.source, 48)} ${field(entry.replica, 128)} - - ${entry.line}`;
}

/** RFC 6587 octet counting: `LENGTH SP MESSAGE`, LENGTH in bytes. */
export function octetFrame(message: string): string {
  return `${Buffer.byteLength(message, "utf8")} ${message}`;
}

/** Splits octet-counted frames (for tests and receivers); returns the messages and what is left. */
export function parseFrames(buffer: Buffer): { messages: string[]; rest: Buffer } {
  const messages: string[] = [];
  let offset = 0;
  for (;;) {
    const space = buffer.indexOf(0x20, offset);
    if (space < 0) break;
    const length = Number(buffer.toString("ascii", offset, space));
    if (!Number.isInteger(length) || length < 0) throw new Error("not an octet-counted frame");
    if (buffer.length < space + 1 + length) break;
    messages.push(buffer.toString("utf8", space + 1, space + 1 + length));
    offset = space + 1 + length;
  }
  return { messages, rest: buffer.subarray(offset) };
}
