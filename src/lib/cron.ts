import { Cron } from "croner";

/**
 * Five-field cron schedules (minute hour day-of-month month day-of-week), in UTC,
 * and Dokku's nicknames (@hourly, @daily, …). Parsing and next-run arithmetic are
 * croner's (npm, no dependencies); this module decides what is accepted and says
 * clearly what is wrong. A seconds field is refused: jobs run at most once a minute.
 */
export class CronSyntaxError extends Error {
  override name = "CronSyntaxError";
}

const NICKNAMES: Record<string, string> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

const FIELDS = ["minute", "hour", "day of month", "month", "day of week"];
const ALLOWED = /^[0-9A-Za-z*,/\-]+$/;
/** Each field's numbers (day of week 7 is Sunday, as 0). */
const RANGES: [number, number][] = [[0, 59], [0, 23], [1, 31], [1, 12], [0, 7]];

/** Numbers out of their field's range, named in the field's own terms (croner counts months from 0). */
function checkRange(field: string, i: number): void {
  const [min, max] = RANGES[i]!;
  for (const part of field.split(",")) {
    const [range, step] = part.split("/");
    if (step !== undefined && !(/^\d+$/.test(step) && Number(step) > 0)) throw new CronSyntaxError(`the ${FIELDS[i]} field "${field}" has a bad step "/${step}"`);
    for (const n of (range ?? "").split("-")) {
      if (/^\d+$/.test(n) && (Number(n) < min || Number(n) > max)) {
        throw new CronSyntaxError(`the ${FIELDS[i]} field "${field}": ${n} is out of range (${min}-${max})`);
      }
    }
  }
}

export interface CronSchedule {
  /** As written. */
  source: string;
  /** The first time strictly after `after` it is due (whole minutes, UTC). */
  next(after: Date): Date;
}

export function parseCron(source: string): CronSchedule {
  const text = source.trim();
  if (text === "") throw new CronSyntaxError("the schedule is empty");
  const expanded = text.startsWith("@") ? NICKNAMES[text.toLowerCase()] : text;
  if (!expanded) throw new CronSyntaxError(`unknown nickname ${text} (known: ${Object.keys(NICKNAMES).join(", ")})`);
  const fields = expanded.split(/\s+/);
  if (fields.length !== 5) {
    throw new CronSyntaxError(`a schedule has 5 fields (minute hour day-of-month month day-of-week), "${text}" has ${fields.length}`);
  }
  fields.forEach((field, i) => {
    if (!ALLOWED.test(field)) throw new CronSyntaxError(`the ${FIELDS[i]} field "${field}" holds a character cron does not know`);
    checkRange(field, i);
  });
  let cron: Cron;
  try {
    cron = new Cron(fields.join(" "), { timezone: "Etc/UTC", paused: true });
  } catch (err) {
    throw new CronSyntaxError(`"${text}": ${(err as Error).message.replace(/^CronPattern: /, "")}`);
  }
  const probe = cron.nextRun(new Date(Date.UTC(2000, 0, 1)));
  if (!probe) throw new CronSyntaxError(`"${text}" never comes due (no date matches it)`);
  return {
    source: text,
    next(after: Date): Date {
      const due = cron.nextRun(after);
      if (!due) throw new CronSyntaxError(`"${text}" never comes due after ${after.toISOString()}`);
      return due;
    },
  };
}
