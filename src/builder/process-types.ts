/**
 * Process types: `bin/release` YAML (`default_process_types:`) and the app's
 * Procfile. Only the small YAML subset buildpacks print is understood: a
 * top-level key holding a map of `name: command` lines.
 */
const NAME = /^[A-Za-z0-9_-]+$/;

export function parseReleaseYaml(text: string): Record<string, string> {
  const types: Record<string, string> = {};
  let inTypes = false;
  for (const raw of text.split(/\r?\n/)) {
    if (raw.trim() === "" || raw.trim() === "---" || raw.trimStart().startsWith("#")) continue;
    const top = /^([A-Za-z_]+):\s*(.*)$/.exec(raw);
    if (top) {
      inTypes = top[1] === "default_process_types" && (top[2] ?? "") === "";
      continue;
    }
    if (!inTypes) continue;
    const entry = /^\s+([^:\s]+):\s*(.*)$/.exec(raw);
    if (entry && NAME.test(entry[1] ?? "")) types[entry[1] as string] = unquote((entry[2] ?? "").trim());
  }
  return types;
}

export function parseProcfile(text: string): Record<string, string> {
  const types: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const match = /^([A-Za-z0-9_-]+):\s*(.+)$/.exec(raw.trim());
    if (match) types[match[1] as string] = (match[2] as string).trim();
  }
  return types;
}

/** Later buildpacks' defaults override earlier ones; the Procfile overrides all. */
export function mergeProcessTypes(defaults: Record<string, string>[], procfile: Record<string, string> | null) {
  return Object.assign({}, ...defaults, procfile ?? {}) as Record<string, string>;
}

function unquote(value: string): string {
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    return JSON.parse(value) as string;
  }
  if (value.length >= 2 && value.startsWith("'") && value.endsWith("'")) {
    return value.slice(1, -1).replaceAll("''", "'");
  }
  return value;
}
