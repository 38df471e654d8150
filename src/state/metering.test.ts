import { describe, expect, test } from "bun:test";
import { type Period, meter, monthName, monthOf, monthsBetween, replicaSizeSeconds } from "./metering.ts";

const DAY = 86_400_000;
const at = (iso: string) => new Date(iso);
const plus = (date: Date, days: number) => new Date(date.getTime() + days * DAY);
const period = (replicas: number, size: number, start: Date, end: Date | null, app = "web", process = "web"): Period => ({
  app,
  process,
  replicas,
  size,
  startedAt: start,
  endedAt: end,
});

describe("meter: GIGALIXIR's worked examples", () => {
  test("one 0.5-size replica for 31 days is 1,339,200 replica-size-seconds", () => {
    const start = at("2024-01-01T00:00:00.000Z");
    const end = plus(start, 31);
    const report = meter([period(1, 0.5, start, end)], start, end, end);
    expect(report.units).toBe(1_339_200_000_000n);
    expect(replicaSizeSeconds(report.units)).toBe(1_339_200);
  });

  test("1.0 × 1 for 10 days, × 3 for 10 days, then size 2.0 × 3 for 10 days is 8,640,000", () => {
    const start = at("2024-04-01T00:00:00.000Z");
    const periods = [
      period(1, 1.0, start, plus(start, 10)),
      period(3, 1.0, plus(start, 10), plus(start, 20)),
      period(3, 2.0, plus(start, 20), plus(start, 30)),
    ];
    const report = meter(periods, start, plus(start, 30), plus(start, 30));
    expect(replicaSizeSeconds(report.units)).toBe(8_640_000);
    expect(report.lines).toEqual([{ app: "web", process: "web", units: 8_640_000_000_000n }]);
  });
});

describe("meter", () => {
  test("counts only the overlap with [from, to); an open period runs until now", () => {
    const from = at("2024-02-01T00:00:00.000Z");
    const to = at("2024-03-01T00:00:00.000Z");
    const now = at("2024-02-03T00:00:00.000Z");
    const report = meter(
      [
        period(2, 1, at("2024-01-31T00:00:00.000Z"), at("2024-02-02T00:00:00.000Z")), // 1 day inside
        period(1, 0.5, at("2024-02-02T00:00:00.000Z"), null, "web", "worker"), // open: 1 day until now
        period(1, 1, at("2024-01-01T00:00:00.000Z"), at("2024-02-01T00:00:00.000Z")), // ends at from: nothing
      ],
      from,
      to,
      now,
    );
    expect(report.lines.map((l) => [l.app, l.process, replicaSizeSeconds(l.units)])).toEqual([
      ["web", "web", 2 * 86_400],
      ["web", "worker", 43_200],
    ]);
    expect(replicaSizeSeconds(report.units)).toBe(2 * 86_400 + 43_200);
  });

  test("a period spanning a month boundary is split between the months", () => {
    const p = period(1, 1, at("2024-01-31T12:00:00.000Z"), at("2024-02-01T06:00:00.000Z"));
    const now = at("2024-03-15T00:00:00.000Z");
    const jan = monthOf(at("2024-01-15T00:00:00.000Z"));
    const feb = monthOf(at("2024-02-15T00:00:00.000Z"));
    expect(replicaSizeSeconds(meter([p], jan.from, jan.to, now).units)).toBe(12 * 3600);
    expect(replicaSizeSeconds(meter([p], feb.from, feb.to, now).units)).toBe(6 * 3600);
  });

  test("lines per app and process, sorted; zero replicas count nothing", () => {
    const from = at("2024-01-01T00:00:00.000Z");
    const to = plus(from, 1);
    const report = meter(
      [period(1, 1, from, to, "zeta"), period(1, 1, from, to, "alpha", "worker"), period(1, 1, from, to, "alpha"), period(0, 1, from, to, "beta")],
      from,
      to,
      to,
    );
    expect(report.lines.map((l) => `${l.app}/${l.process}`)).toEqual(["alpha/web", "alpha/worker", "zeta/web"]);
  });

  test("stays exact where floating point would not: 1000 replicas of 16 for 31 days", () => {
    const start = at("2024-01-01T00:00:00.000Z");
    const end = plus(start, 31);
    expect(meter([period(1000, 16, start, end)], start, end, end).units).toBe(1000n * 16n * 31n * 86_400n * 1_000_000n);
  });
});

describe("months (UTC)", () => {
  test("monthOf gives the calendar month, December rolls into the next year", () => {
    expect(monthOf(at("2024-02-29T23:59:59.999Z"))).toEqual({ from: at("2024-02-01T00:00:00.000Z"), to: at("2024-03-01T00:00:00.000Z") });
    expect(monthOf(at("2023-12-31T23:00:00.000Z")).to).toEqual(at("2024-01-01T00:00:00.000Z"));
    expect(monthName(at("2024-02-01T00:00:00.000Z"))).toBe("2024-02");
  });

  test("monthsBetween lists the months before the current one", () => {
    expect(monthsBetween(at("2023-11-20T00:00:00.000Z"), at("2024-02-10T00:00:00.000Z")).map((m) => monthName(m.from))).toEqual([
      "2023-11",
      "2023-12",
      "2024-01",
    ]);
    expect(monthsBetween(at("2024-02-01T00:00:00.000Z"), at("2024-02-10T00:00:00.000Z"))).toEqual([]);
  });
});
