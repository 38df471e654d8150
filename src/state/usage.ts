import type { Database } from "bun:sqlite";
import type { Clock } from "./clock.ts";
import { type Period, type UsageReport, meter, monthName, monthOf, monthsBetween } from "./metering.ts";
import { type Price, checkCurrency, checkPrice } from "./money.ts";

/** The app a usage period belongs to; its name and owner are kept after the app is deleted. */
export interface MeteredApp {
  id: number;
  name: string;
  ownerId: number;
}

export interface Statement extends UsageReport {
  /** "2024-03" */
  month: string;
}

interface PeriodRow {
  app_name: string;
  process: string;
  replicas: number;
  size: number;
  started_at: string;
  ended_at: string | null;
}

const toPeriod = (row: PeriodRow): Period => ({
  app: row.app_name,
  process: row.process,
  replicas: row.replicas,
  size: row.size,
  startedAt: new Date(row.started_at),
  endedAt: row.ended_at === null ? null : new Date(row.ended_at),
});

const PRICE_KEY = "usage:price";
const CURRENCY_KEY = "usage:currency";

/**
 * Metered usage: each applied formation of an app's process opens a period
 * (replicas × size from then on) and closes the one before. Usage is computed
 * from the periods, per calendar month (UTC), for an account or an app.
 */
export class Usage {
  constructor(private readonly db: Database, private readonly clock: Clock) {}

  /**
   * Records that (app, process) runs `replicas` replicas of `size` from `at`:
   * closes its open period and opens a new one when replicas > 0. Recording
   * the formation already running changes nothing. Works after the app's row
   * is deleted too (its periods are found by name then).
   */
  record(app: MeteredApp, process: string, replicas: number, size: number, at: Date = this.clock()): void {
    const iso = at.toISOString();
    this.db.transaction(() => {
      const open = this.db
        .query(
          `SELECT id, replicas, size, started_at FROM usage_periods
            WHERE ended_at IS NULL AND process = ?1 AND (app_id = ?2 OR (app_id IS NULL AND app_name = ?3))`,
        )
        .all(process, app.id, app.name) as { id: number; replicas: number; size: number; started_at: string }[];
      if (replicas > 0 && open.length === 1 && open[0]!.replicas === replicas && open[0]!.size === size) return;
      for (const period of open) {
        const end = iso < period.started_at ? period.started_at : iso;
        this.db.query("UPDATE usage_periods SET ended_at = ? WHERE id = ?").run(end, period.id);
      }
      if (replicas > 0) {
        this.db
          .query(
            `INSERT INTO usage_periods (app_id, app_name, owner_id, process, replicas, size, started_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(app.id, app.name, app.ownerId, process, replicas, size, iso);
      }
    })();
  }

  /** Closes every open period of the app (it stopped running, e.g. apps:destroy). */
  stopApp(app: MeteredApp, at: Date = this.clock()): void {
    const open = this.db
      .query("SELECT DISTINCT process FROM usage_periods WHERE ended_at IS NULL AND (app_id = ? OR (app_id IS NULL AND app_name = ?))")
      .all(app.id, app.name) as { process: string }[];
    for (const { process } of open) this.record(app, process, 0, 0, at);
  }

  /** An account's usage in [from, to), deleted apps included; open periods count until now. */
  forAccount(ownerId: number, from: Date, to: Date): UsageReport {
    return meter(this.periods("owner_id = ?", ownerId, from, to), from, to, this.clock());
  }

  forApp(appId: number, from: Date, to: Date): UsageReport {
    return meter(this.periods("app_id = ?", appId, from, to), from, to, this.clock());
  }

  /** The account's usage this month, up to now. */
  currentMonth(ownerId: number): UsageReport {
    const now = this.clock();
    return this.forAccount(ownerId, monthOf(now).from, now);
  }

  /** One statement per earlier month with usage, newest first. */
  statements(ownerId: number): Statement[] {
    const now = this.clock();
    const first = this.db.query("SELECT min(started_at) AS first FROM usage_periods WHERE owner_id = ?").get(ownerId) as { first: string | null };
    if (!first.first) return [];
    const months = monthsBetween(new Date(first.first), now);
    if (months.length === 0) return [];
    const periods = this.periods("owner_id = ?", ownerId, months[0]!.from, months.at(-1)!.to);
    return months
      .map(({ from, to }) => ({ month: monthName(from), ...meter(periods, from, to, now) }))
      .filter((s) => s.lines.length > 0)
      .reverse();
  }

  price(): Price | null {
    const rows = this.db.query("SELECT key, value FROM settings WHERE key IN (?, ?)").all(PRICE_KEY, CURRENCY_KEY) as { key: string; value: string }[];
    const get = (key: string) => rows.find((r) => r.key === key)?.value;
    const price = get(PRICE_KEY);
    return price === undefined ? null : { perReplicaSizeSecond: price, currency: get(CURRENCY_KEY) ?? "USD" };
  }

  setPrice(perReplicaSizeSecond: string, currency: string): Price {
    const price = { perReplicaSizeSecond: checkPrice(perReplicaSizeSecond), currency: checkCurrency(currency) };
    const upsert = this.db.query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    this.db.transaction(() => {
      upsert.run(PRICE_KEY, price.perReplicaSizeSecond);
      upsert.run(CURRENCY_KEY, price.currency);
    })();
    return price;
  }

  private periods(where: string, id: number, from: Date, to: Date): Period[] {
    const rows = this.db
      .query(
        `SELECT app_name, process, replicas, size, started_at, ended_at FROM usage_periods
          WHERE ${where} AND started_at < ? AND (ended_at IS NULL OR ended_at > ?)`,
      )
      .all(id, to.toISOString(), from.toISOString()) as PeriodRow[];
    return rows.map(toPeriod);
  }
}
