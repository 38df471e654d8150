import { Secret } from "./secret.ts";

export type LogFields = Record<string, string | number | boolean | null | undefined | Secret>;

export interface Logger {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

export interface LoggerOptions {
  write?: (line: string) => void;
  now?: () => Date;
}

/** One line per event: `<iso time> <level> <event> key=value …`. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line + "\n"));
  const now = options.now ?? (() => new Date());
  const emit = (level: string) => (event: string, fields: LogFields = {}) => {
    write([now().toISOString(), level, event, ...formatFields(fields)].join(" "));
  };
  return { info: emit("info"), warn: emit("warn"), error: emit("error") };
}

export function formatFields(fields: LogFields): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const text = String(value); // a Secret stringifies as [REDACTED]
    out.push(`${key}=${/[\s"=]/.test(text) || text === "" ? JSON.stringify(text) : text}`);
  }
  return out;
}

/** A logger that keeps lines in memory, for tests. */
export function createMemoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return Object.assign(createLogger({ write: (line) => lines.push(line) }), { lines });
}
