import { badRequest } from "./errors.ts";

/** `Elixir.My.Module` or `My.Module`: aliases only, as GIGALIXIR's `run MODULE FUNCTION` takes them. */
export const ELIXIR_MODULE = /^(?:Elixir\.)?[A-Z][A-Za-z0-9_]{0,99}(?:\.[A-Z][A-Za-z0-9_]{0,99}){0,9}$/;
/** A function name: lower case or _, letters, digits, _, and an optional ? or ! at the end. */
export const ELIXIR_FUNCTION = /^[a-z_][A-Za-z0-9_]{0,99}[?!]?$/;

/** Looks like a module, so `run Foo bar` means a function call and not a command named Foo. */
export function looksLikeModule(word: string): boolean {
  return /^[A-Z]/.test(word);
}

/**
 * The Elixir that calls MODULE.FUNCTION with no arguments, `Elixir.` prepended when missing.
 * Both names are checked against strict patterns first, so nothing else reaches the code.
 */
export function elixirCall(module: unknown, fn: unknown): string {
  if (typeof module !== "string" || !ELIXIR_MODULE.test(module)) {
    throw badRequest(`not an Elixir module name: ${JSON.stringify(String(module).slice(0, 60))}`, "give a module such as Elixir.MyApp.Tasks or MyApp.Tasks");
  }
  if (typeof fn !== "string" || !ELIXIR_FUNCTION.test(fn)) {
    throw badRequest(`not an Elixir function name: ${JSON.stringify(String(fn).slice(0, 60))}`, "give a function of no arguments such as migrate");
  }
  return `${module.startsWith("Elixir.") ? module : `Elixir.${module}`}.${fn}()`;
}
