/**
 * Usage math, kept exact: a period's usage is replicas × size × time, counted
 * in integer units of one millionth of a replica-size-second (size in
 * thousandths, time in milliseconds), summed as bigint.
 */

/** One recorded stretch of time during which an app's process ran `replicas` replicas of `size`. */
export interface Period {
  app: string;
  process: string;
  replicas: number;
  size: number;
  startedAt: Date;
  /** null while the formation still runs. */
  endedAt: Date | null;
}

export interface UsageLine {
  app: string;
  process: string;
  /** Millionths of a replica-size-second. */
  units: bigint;
}

export interface UsageReport {
  from: Date;
  to: Date;
  /** One per app and process with usage in [from, to), sorted by app then process. */
  lines: UsageLine[];
  units: bigint;
}

export const UNITS_PER_REPLICA_SIZE_SECOND = 1_000_000n;

/** Replica-size-seconds as a number, for display (exact for whole seconds). */
export const replicaSizeSeconds = (units: bigint): number => Number(units) / 1e6;

/** The usage of one period inside [from, to); an open period runs until `now`. */
export function periodUnits(period: Period, from: Date, to: Date, now: Date): bigint {
  const start = Math.max(period.startedAt.getTime(), from.getTime());
  const end = Math.min((period.endedAt ?? now).getTime(), to.getTime());
  if (end <= start || period.replicas <= 0) return 0n;
  return BigInt(period.replicas) * BigInt(Math.round(period.size * 1000)) * BigInt(end - start);
}

/** Σ replicas × size × seconds of overlap with [from, to), per app and process, plus the total. */
export function meter(periods: Period[], from: Date, to: Date, now: Date): UsageReport {
  const byLine = new Map<string, UsageLine>();
  for (const period of periods) {
    const units = periodUnits(period, from, to, now);
    if (units === 0n) continue;
    const key = JSON.stringify([period.app, period.process]);
    const line = byLine.get(key) ?? { app: period.app, process: period.process, units: 0n };
    line.units += units;
    byLine.set(key, line);
  }
  const lines = [...byLine.values()].sort((a, b) => (a.app === b.app ? cmp(a.process, b.process) : cmp(a.app, b.app)));
  return { from, to, lines, units: lines.reduce((sum, l) => sum + l.units, 0n) };
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The calendar month (UTC) holding `date`: [first instant, first instant of the next month). */
export function monthOf(date: Date): { from: Date; to: Date } {
  const y = date.getUTCFullYear();
  const m = date.getUTCMonth();
  return { from: new Date(Date.UTC(y, m, 1)), to: new Date(Date.UTC(y, m + 1, 1)) };
}

/** "2024-03" */
export const monthName = (date: Date): string => date.toISOString().slice(0, 7);

/** The months from the one holding `first` up to, not including, the one holding `before`. */
export function monthsBetween(first: Date, before: Date): { from: Date; to: Date }[] {
  const out: { from: Date; to: Date }[] = [];
  const end = monthOf(before).from.getTime();
  for (let month = monthOf(first); month.from.getTime() < end; month = monthOf(month.to)) out.push(month);
  return out;
}
