import { describe, expect, test } from "bun:test";
import { parseAssignments } from "./config.ts";
import { appFromFirstArgument, checkFlags } from "./define.ts";

describe("checkFlags", () => {
  const args = {
    app: { type: "string", alias: "a" },
    json: { type: "boolean" },
    name: { type: "positional" },
  } as const;

  test("accepts declared flags, aliases, --no- forms and anything after --", () => {
    expect(() => checkFlags(["-a", "web", "--json", "--no-json", "--app=web", "x", "--", "--anything"], args)).not.toThrow();
  });

  test.each([["--jsn"], ["-x"], ["--name"], ["--app-name=x"]])("refuses %p", (flag) => {
    expect(() => checkFlags([flag], args)).toThrow(/unknown flag/);
  });
});

describe("parseAssignments", () => {
  test("splits at the first =, keeps empty values and = in values", () => {
    expect(parseAssignments(["A=1", "B=x=y", "C="])).toEqual({ A: "1", B: "x=y", C: "" });
  });

  test("refuses pairs without a key or with a bad key", () => {
    expect(() => parseAssignments(["A"])).toThrow(/expected KEY=VALUE/);
    expect(() => parseAssignments(["=1"])).toThrow(/expected KEY=VALUE/);
    expect(() => parseAssignments(["1A=x"])).toThrow(/invalid config key/);
  });

  test("the error for a missing = does not echo the value", () => {
    for (const args of [["A=1", "sk_live_abc"], ["1BAD=hunter2"]]) {
      let message = "";
      try {
        parseAssignments(args);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).not.toBe("");
      expect(message).not.toMatch(/sk_live_abc|hunter2/);
    }
    expect(() => parseAssignments(["A=1", "sk_live_abc"])).toThrow("expected KEY=VALUE, argument 2 is not");
  });
});

describe("appFromFirstArgument", () => {
  const args = { domain: { type: "positional", required: true }, app: { type: "string", alias: "a" } } as const;

  test("one argument more than declared is the app; the rest move to their names", () => {
    const parsed: { _: string[]; [k: string]: unknown } = { _: ["web", "www.example.com"], domain: "web" };
    appFromFirstArgument(parsed, args);
    expect(parsed).toEqual({ _: ["www.example.com"], domain: "www.example.com", app: "web" });
  });

  test("as many as declared, or more than one extra: left as they are", () => {
    for (const _ of [["www.example.com"], ["a", "b", "c"]]) {
      const parsed = { _: [..._], domain: _[0] };
      appFromFirstArgument(parsed, args);
      expect(parsed).toEqual({ _, domain: _[0] });
    }
  });

  test("the same app with -a is fine; a different one is an error", () => {
    const same: { _: string[]; [k: string]: unknown } = { _: ["web", "x.example.com"], app: "web" };
    appFromFirstArgument(same, args);
    expect(same.app).toBe("web");
    expect(() => appFromFirstArgument({ _: ["web", "x.example.com"], app: "api" }, args)).toThrow('two apps given: "web" and -a "api"');
  });
});
