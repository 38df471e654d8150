import { createHash } from "node:crypto";
import { type AppManifest, type CronEntry, type HealthCheckSpec, emptyManifest } from "../lib/app-manifest.ts";
import { CronSyntaxError, parseCron } from "../lib/cron.ts";
import { JsonSyntaxError, type LocatedJson, parseJsonWithLines } from "../lib/json-lines.ts";

/**
 * app.json at the repository root, as Heroku and Dokku read it: `formation`,
 * `healthchecks` (Dokku's format), `cron` (Dokku's format) and
 * `scripts.dokku.predeploy` / `postdeploy`. Keys Beamstalk does not act on give a
 * warning for the push output; a malformed file fails the build with its line.
 */
export class AppJsonError extends Error {
  override name = "AppJsonError";
  constructor(readonly line: number, readonly reason: string) {
    super(`app.json line ${line}: ${reason}`);
  }
}

export interface AppJson {
  manifest: AppManifest;
  warnings: string[];
}

/** Descriptive keys of Heroku's schema: accepted without a word. */
const DESCRIPTIVE = new Set(["name", "description", "keywords", "repository", "website", "logo", "success_url", "stack"]);
const KNOWN = new Set(["formation", "healthchecks", "cron", "scripts"]);
const PROCESS = /^[A-Za-z0-9_-]+$/;
const SIZE_MIN = 0.5;
const SIZE_MAX = 16;
const MAX_CRON = 100;

export function readAppJson(text: string): AppJson {
  let doc: LocatedJson;
  try {
    doc = parseJsonWithLines(text);
  } catch (err) {
    if (err instanceof JsonSyntaxError) throw new AppJsonError(err.line, `${err.reason} (column ${err.column})`);
    throw err;
  }
  const warnings: string[] = [];
  const manifest = emptyManifest();
  const root = object(doc, "", doc.value, "the file");
  const bad = (path: string, reason: string): never => {
    throw new AppJsonError(doc.lineOf(path), reason);
  };
  const warn = (path: string, what: string) => warnings.push(`app.json line ${doc.lineOf(path)}: ${what}`);
  for (const key of Object.keys(root)) {
    if (DESCRIPTIVE.has(key) || KNOWN.has(key)) continue;
    warn(key, `"${key}" is not used by Beamstalk; ignored`);
  }
  if (root.formation !== undefined) manifest.formation = formation(doc, root.formation, bad, warn);
  if (root.healthchecks !== undefined) manifest.healthchecks = healthchecks(doc, root.healthchecks, bad, warn);
  if (root.cron !== undefined) manifest.cron = cron(doc, root.cron, bad, warn);
  if (root.scripts !== undefined) {
    const scripts = object(doc, "scripts", root.scripts, '"scripts"');
    for (const key of Object.keys(scripts)) if (key !== "dokku") warn(`scripts.${key}`, `"scripts.${key}" is not run by Beamstalk; ignored`);
    if (scripts.dokku !== undefined) {
      const dokku = object(doc, "scripts.dokku", scripts.dokku, '"scripts.dokku"');
      for (const key of Object.keys(dokku)) {
        const path = `scripts.dokku.${key}`;
        if (key !== "predeploy" && key !== "postdeploy") {
          warn(path, `"${path}" is not run by Beamstalk; ignored`);
          continue;
        }
        const command = nonEmptyString(dokku[key], () => bad(path, `"${path}" must be a command (a non-empty string)`));
        if (key === "predeploy") manifest.releasePhase.push({ source: "app.json scripts.dokku.predeploy", command });
        else manifest.postdeploy = command;
      }
    }
  }
  return { manifest, warnings };
}

/** Dokku's short id for an entry: the same schedule and command give the same id. */
export function cronId(schedule: string, command: string): string {
  return createHash("sha256").update(`${schedule}\n${command}`).digest("hex").slice(0, 8);
}

type Bad = (path: string, reason: string) => never;
type Warn = (path: string, what: string) => void;

function object(doc: LocatedJson, path: string, value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new AppJsonError(doc.lineOf(path), `${what} must be an object ({ … })`);
  }
  return value as Record<string, unknown>;
}

function nonEmptyString(value: unknown, otherwise: () => never): string {
  if (typeof value !== "string" || value.trim() === "") return otherwise();
  return value.trim();
}

function processType(path: string, type: string, bad: Bad): void {
  if (!PROCESS.test(type)) bad(path, `"${type}" is not a process type name (letters, digits, - and _)`);
}

function formation(doc: LocatedJson, value: unknown, bad: Bad, warn: Warn): AppManifest["formation"] {
  const out: AppManifest["formation"] = {};
  for (const [type, raw] of Object.entries(object(doc, "formation", value, '"formation"'))) {
    const path = `formation.${type}`;
    processType(path, type, bad);
    const entry = object(doc, path, raw, `"${path}"`);
    const f: { count?: number; size?: number } = {};
    for (const [key, v] of Object.entries(entry)) {
      if (key === "quantity") {
        if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0 || v > 100) bad(`${path}.quantity`, `"${path}.quantity" must be a whole number from 0 to 100`);
        f.count = v as number;
      } else if (key === "size") {
        if (typeof v === "number") {
          const tenths = v * 10;
          if (!(v >= SIZE_MIN && v <= SIZE_MAX) || Math.abs(tenths - Math.round(tenths)) > 1e-9) {
            bad(`${path}.size`, `"${path}.size" must be from ${SIZE_MIN} to ${SIZE_MAX} in steps of 0.1 (1 size = 1 GiB, 0.2 CPU)`);
          }
          f.size = v;
        } else warn(`${path}.size`, `"${path}.size" ${JSON.stringify(v)} is not a Beamstalk size (a number, 1 = 1 GiB); size 1 is used`);
      } else warn(`${path}.${key}`, `"${path}.${key}" is not used by Beamstalk; ignored`);
    }
    out[type] = f;
  }
  return out;
}

const CHECK_NUMBERS = { timeout: 5, attempts: 3, initialDelay: 0, wait: 5 } as const;

function healthchecks(doc: LocatedJson, value: unknown, bad: Bad, warn: Warn): AppManifest["healthchecks"] {
  const out: AppManifest["healthchecks"] = {};
  for (const [type, raw] of Object.entries(object(doc, "healthchecks", value, '"healthchecks"'))) {
    const path = `healthchecks.${type}`;
    processType(path, type, bad);
    if (!Array.isArray(raw)) bad(path, `"${path}" must be a list of checks ([ … ])`);
    const checks: HealthCheckSpec[] = [];
    (raw as unknown[]).forEach((item, i) => {
      const at = `${path}[${i}]`;
      const check = object(doc, at, item, `check ${i + 1} of "${path}"`);
      const kind = check.type ?? "startup";
      if (kind !== "startup") {
        warn(`${at}.type`, `${at}: only "startup" checks run (at each rollout); a ${JSON.stringify(kind)} check is ignored`);
        return;
      }
      const spec: HealthCheckSpec = { name: `${type} check ${i + 1}`, path: "/", ...CHECK_NUMBERS };
      for (const [key, v] of Object.entries(check)) {
        if (key === "type" || key === "description") continue;
        if (key === "name") spec.name = nonEmptyString(v, () => bad(`${at}.name`, `${at}.name must be a non-empty string`));
        else if (key === "path") {
          if (typeof v !== "string" || !v.startsWith("/") || /[\s\0]/.test(v)) bad(`${at}.path`, `${at}.path must start with / and hold no spaces`);
          spec.path = v as string;
        } else if (key === "content") spec.content = nonEmptyString(v, () => bad(`${at}.content`, `${at}.content must be a non-empty string`));
        else if (key in CHECK_NUMBERS) {
          const min = key === "attempts" || key === "timeout" ? 1 : 0;
          if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > 600) bad(`${at}.${key}`, `${at}.${key} must be whole seconds (a count for attempts) from ${min} to 600`);
          spec[key as keyof typeof CHECK_NUMBERS] = v as number;
        } else warn(`${at}.${key}`, `${at}.${key} is not used by Beamstalk; ignored`);
      }
      checks.push(spec);
    });
    out[type] = checks;
  }
  return out;
}

function cron(doc: LocatedJson, value: unknown, bad: Bad, warn: Warn): CronEntry[] {
  if (!Array.isArray(value)) bad("cron", '"cron" must be a list of { "command", "schedule" } entries');
  const entries = value as unknown[];
  if (entries.length > MAX_CRON) bad("cron", `at most ${MAX_CRON} cron entries`);
  const out: CronEntry[] = [];
  entries.forEach((item, i) => {
    const at = `cron[${i}]`;
    const entry = object(doc, at, item, `cron entry ${i + 1}`);
    const command = nonEmptyString(entry.command, () => bad(entry.command === undefined ? at : `${at}.command`, `cron entry ${i + 1} needs a "command" (a non-empty string)`));
    const schedule = nonEmptyString(entry.schedule, () => bad(entry.schedule === undefined ? at : `${at}.schedule`, `cron entry ${i + 1} needs a "schedule" (a non-empty string)`));
    try {
      parseCron(schedule);
    } catch (err) {
      if (err instanceof CronSyntaxError) bad(`${at}.schedule`, `cron entry ${i + 1}: ${err.message}`);
      throw err;
    }
    for (const key of Object.keys(entry)) if (key !== "command" && key !== "schedule") warn(`${at}.${key}`, `${at}.${key} is not used by Beamstalk; ignored`);
    const id = cronId(schedule, command);
    if (out.some((e) => e.id === id)) bad(at, `cron entry ${i + 1} repeats an earlier entry (same schedule and command)`);
    out.push({ id, schedule, command });
  });
  return out;
}
