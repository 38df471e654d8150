import { badRequest } from "./errors.ts";

/** Rules checked at every boundary (API, git path, SSH command): DESIGN.md §6. */
export const APP_NAME = /^[a-z][a-z0-9-]{1,62}$/;
export const CONFIG_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A replica: its process type, a dot, its index (web.1). */
export const REPLICA_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,29}\.[1-9][0-9]{0,3}$/;
export const CONFIG_VALUE_MAX_BYTES = 32 * 1024;
export const CONFIG_KEY_MAX = 256;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 1024;

export function isAppName(name: unknown): name is string {
  return typeof name === "string" && APP_NAME.test(name);
}

export function checkAppName(name: unknown): string {
  if (!isAppName(name)) {
    throw badRequest(
      `invalid app name ${JSON.stringify(String(name)).slice(0, 80)}`,
      "app names are 2-63 characters: a lowercase letter, then lowercase letters, digits or '-'",
    );
  }
  return name;
}

export function checkEmail(email: unknown): string {
  if (typeof email !== "string" || email.length > 254 || !EMAIL.test(email)) {
    throw badRequest("invalid email address", "give an address such as you@example.com");
  }
  return email.toLowerCase();
}

export function checkPassword(password: unknown): string {
  if (typeof password !== "string" || password.length < PASSWORD_MIN || password.length > PASSWORD_MAX) {
    throw badRequest(`password must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters`);
  }
  return password;
}

export function checkConfigKey(key: unknown): string {
  if (typeof key !== "string" || key.length > CONFIG_KEY_MAX || !CONFIG_KEY.test(key)) {
    throw badRequest(
      `invalid config key ${JSON.stringify(String(key)).slice(0, 80)}`,
      "keys start with a letter or '_' and hold only letters, digits and '_'",
    );
  }
  return key;
}

/** Never echoes the value: config values are secrets. */
export function checkConfigValue(key: string, value: unknown): string {
  if (typeof value !== "string") throw badRequest(`value of ${key} must be a string`);
  if (Buffer.byteLength(value, "utf8") > CONFIG_VALUE_MAX_BYTES) {
    throw badRequest(`value of ${key} is larger than 32 KiB`);
  }
  if (value.includes("\0")) throw badRequest(`value of ${key} contains a NUL byte`);
  return value;
}

/** A mix release name as `bin/<name>` and release_handler know it (an Elixir app atom). */
export function isReleaseName(value: string): boolean {
  return /^[a-z][a-z0-9_]*$/.test(value);
}

/** A release version (mix.exs `version`): nothing that could leave a path or a quoted literal. */
export function isReleaseVersion(value: string): boolean {
  return /^[0-9A-Za-z][0-9A-Za-z.+_-]*$/.test(value) && !value.includes("..");
}

/** A SHA-1 or SHA-256 object id, lowercase hex. */
const OBJECT_ID = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/**
 * A ref name as git allows it (git check-ref-format): under refs/, no control
 * characters, space, ~ ^ : ? * [ or \\, no `..`, `@{`, `//`, no component
 * starting with `.` or ending in `.lock`, not ending in `/` or `.`. git itself
 * never hands the hook anything else; the daemon refuses it all the same.
 */
export function isRefName(ref: string): boolean {
  if (ref.length > 1024 || !ref.startsWith("refs/") || /[\x00-\x20\x7f~^:?*[\\]/.test(ref)) return false;
  if (ref.includes("..") || ref.includes("@{") || ref.includes("//") || ref.endsWith("/") || ref.endsWith(".")) return false;
  return ref.split("/").every((part) => part !== "" && !part.startsWith(".") && !part.endsWith(".lock"));
}

/** One ref update as the daemon accepts it: two object ids and a valid ref name. */
export function isRefUpdate(update: { old?: unknown; new?: unknown; ref?: unknown }): update is { old: string; new: string; ref: string } {
  return typeof update.old === "string" && typeof update.new === "string" && typeof update.ref === "string" && OBJECT_ID.test(update.old) && OBJECT_ID.test(update.new) && isRefName(update.ref);
}
