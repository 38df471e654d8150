/** Data goes to stdout; messages and progress to stderr. No news is good news. */

export function printJson(data: unknown): void {
  process.stdout.write(JSON.stringify(data, null, 2) + "\n");
}

/** Aligned columns with a header row; an empty list prints nothing to stdout. */
export function printTable(rows: Record<string, unknown>[], columns: string[], empty?: string): void {
  if (rows.length === 0) {
    if (empty) info(empty);
    return;
  }
  const cells = [columns.map((c) => c.toUpperCase()), ...rows.map((r) => columns.map((c) => format(r[c])))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  const lines = cells.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  "));
  process.stdout.write(lines.join("\n") + "\n");
}

/** `key: value` lines for one record. */
export function printRecord(record: Record<string, unknown>): void {
  const width = Math.max(...Object.keys(record).map((k) => k.length));
  const lines = Object.entries(record).map(([k, v]) => `${(k + ":").padEnd(width + 1)} ${format(v)}`);
  process.stdout.write(lines.join("\n") + "\n");
}

export function info(message: string): void {
  process.stderr.write(message + "\n");
}

function format(value: unknown): string {
  if (value === null || value === undefined) return "-";
  return String(value);
}
