import { describe, expect, test } from "bun:test";
import { CronSyntaxError, parseCron } from "./cron.ts";

const at = (iso: string) => new Date(iso);
const next = (schedule: string, after: string) => parseCron(schedule).next(at(after)).toISOString();

describe("five-field cron schedules in UTC", () => {
  test("next run, strictly after the given time", () => {
    expect(next("* * * * *", "2026-12-03T14:21:30Z")).toBe("2026-12-03T14:22:00.000Z");
    expect(next("* * * * *", "2026-12-03T14:22:00Z")).toBe("2026-12-03T14:23:00.000Z");
    expect(next("*/5 * * * *", "2026-12-03T14:21:30Z")).toBe("2026-12-03T14:25:00.000Z");
    expect(next("30 2 * * *", "2026-12-03T14:21:30Z")).toBe("2026-12-04T02:30:00.000Z");
    expect(next("0 9 * * MON-FRI", "2026-12-04T10:00:00Z")).toBe("2026-12-07T09:00:00.000Z");
    expect(next("1-5/2 * * * *", "2026-12-03T14:21:30Z")).toBe("2026-12-03T15:01:00.000Z");
    expect(next("0 0 29 2 *", "2026-12-03T14:21:30Z")).toBe("2028-02-29T00:00:00.000Z");
    expect(next("0 0 1,15 * *", "2026-12-03T00:00:00Z")).toBe("2026-12-15T00:00:00.000Z");
  });

  test("day of month and day of week: either matches (as in Vixie cron)", () => {
    // 2026-12-03 is a Thursday: the 1st of January or the next Monday, whichever comes first.
    expect(next("0 0 1 * 1", "2026-12-03T12:00:00Z")).toBe("2026-12-07T00:00:00.000Z");
  });

  test("Dokku's nicknames", () => {
    expect(next("@hourly", "2026-12-03T14:21:30Z")).toBe("2026-12-03T15:00:00.000Z");
    expect(next("@daily", "2026-12-03T14:21:30Z")).toBe("2026-12-04T00:00:00.000Z");
    expect(next("@weekly", "2026-12-03T14:21:30Z")).toBe("2026-12-06T00:00:00.000Z");
    expect(next("@monthly", "2026-12-03T14:21:30Z")).toBe("2027-01-01T00:00:00.000Z");
    expect(next("@yearly", "2026-12-03T14:21:30Z")).toBe("2027-01-01T00:00:00.000Z");
  });

  test("bad input is refused with a clear reason", () => {
    const cases: [string, string][] = [
      ["", "the schedule is empty"],
      ["* * * *", 'a schedule has 5 fields (minute hour day-of-month month day-of-week), "* * * *" has 4'],
      ["0 * * * * *", 'a schedule has 5 fields (minute hour day-of-month month day-of-week), "0 * * * * *" has 6'],
      ["61 * * * *", 'the minute field "61": 61 is out of range (0-59)'],
      ["* 24 * * *", 'the hour field "24": 24 is out of range (0-23)'],
      ["* * 0 * *", 'the day of month field "0": 0 is out of range (1-31)'],
      ["* * * 13 *", 'the month field "13": 13 is out of range (1-12)'],
      ["* * * 1-13 *", 'the month field "1-13": 13 is out of range (1-12)'],
      ["* * * * 8", 'the day of week field "8": 8 is out of range (0-7)'],
      ["*/0 * * * *", 'the minute field "*/0" has a bad step "/0"'],
      ["a b c d e", "contains illegal characters"],
      ["* * * * $(id)", 'the day of week field "$(id)" holds a character cron does not know'],
      ["0 0 31 2 *", '"0 0 31 2 *" never comes due (no date matches it)'],
      ["@sometimes", "unknown nickname @sometimes"],
    ];
    for (const [input, message] of cases) {
      let error: unknown;
      try {
        parseCron(input);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(CronSyntaxError);
      expect({ input, message: (error as Error).message }).toEqual({ input, message: expect.stringContaining(message) });
    }
  });
});
