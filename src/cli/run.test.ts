import { describe, expect, test } from "bun:test";
import { type ArgsDef, parseArgs } from "citty";
import { checkFlags } from "./define.ts";
import { moduleCall, parseSize, parseTimeout, run } from "./run.ts";

describe("beamstalk run arguments", () => {
  const args: ArgsDef = { ...(run.args as ArgsDef), app: { type: "string", alias: "a" } };

  test("everything after -- is the job's argv, flags and odd characters included", () => {
    const raw = ["-a", "web", "--timeout", "2", "--", "printf", "%s|", "a b", "$(id)", "c;d", "-a", "--size", "007", ""];
    expect(() => checkFlags(raw, args)).not.toThrow();
    const parsed = parseArgs(raw, args) as { _: unknown[]; app?: string; timeout?: string; size?: string };
    expect(parsed._.map(String)).toEqual(["printf", "%s|", "a b", "$(id)", "c;d", "-a", "--size", "007", ""]);
    expect([parsed.app, parsed.timeout, parsed.size]).toEqual(["web", "2", undefined]);
  });

  test("a flag before -- that run does not take is refused", () => {
    expect(() => checkFlags(["-c", "x", "--", "ls"], args)).toThrow(/unknown flag -c/);
  });

  test("--timeout is whole seconds up to 24 h; --size above 0 up to 64", () => {
    expect([parseTimeout(undefined), parseTimeout("2"), parseTimeout("86400")]).toEqual([undefined, 2, 86400]);
    for (const bad of ["0", "-1", "1.5", "86401", "x", ""]) expect(() => parseTimeout(bad)).toThrow(/--timeout must be whole seconds/);
    expect([parseSize(undefined), parseSize("0.5"), parseSize("2")]).toEqual([undefined, 0.5, 2]);
    for (const bad of ["0", "-1", "65", "x"]) expect(() => parseSize(bad)).toThrow(/--size must be a number/);
  });
});

describe("GIGALIXIR's run [APP] MODULE FUNCTION", () => {
  test("two words, the first capitalised: a call; with an app first too", () => {
    expect(moduleCall(["Tasks", "migrate"], undefined)).toEqual({ module: "Tasks", function: "migrate" });
    expect(moduleCall(["Elixir.MyApp.Tasks", "seed"], "web")).toEqual({ module: "Elixir.MyApp.Tasks", function: "seed" });
    expect(moduleCall(["web", "Tasks", "migrate"], undefined)).toEqual({ app: "web", module: "Tasks", function: "migrate" });
    expect(moduleCall(["web", "Tasks", "migrate"], "web")).toEqual({ app: "web", module: "Tasks", function: "migrate" });
  });

  test("anything else is a command, as before", () => {
    for (const words of [["echo", "hi"], ["bin/hello", "eval", "1"], ["ls"], ["echo", "Tasks", "migrate", "x"], ["Tasks"]]) expect(moduleCall(words, undefined)).toBeNull();
  });

  test("a bad name or two different apps is a usage error", () => {
    expect(() => moduleCall(["Tasks", "migrate;halt"], undefined)).toThrow("not an Elixir function name");
    expect(() => moduleCall(["Tasks-x", "migrate"], undefined)).toThrow("not an Elixir module name");
    expect(() => moduleCall(["web", "Tasks", "Migrate"], undefined)).toThrow("not an Elixir function name");
    expect(() => moduleCall(["$(id)", "Tasks", "migrate"], undefined)).toThrow("invalid app name");
    expect(() => moduleCall(["web", "Tasks", "migrate"], "api")).toThrow('two apps given: "web" and -a "api"');
  });
});
