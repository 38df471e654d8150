import { describe, expect, test } from "bun:test";
import { generateAppName } from "./app-names.ts";
import { checkAppName, checkConfigKey, checkConfigValue, checkEmail, isAppName } from "./validate.ts";

describe("app names", () => {
  test.each(["web", "my-app-2", "a1", "x".repeat(63)])("accepts %p", (name) => {
    expect(checkAppName(name)).toBe(name);
  });

  test.each(["-h", "--upload-pack=x", "../x", "a;id", "$(id)", "A", "Web", "a", "1app", "a b", "a/b", "x".repeat(64), "a\nb", ""])(
    "refuses %p with a hint",
    (name) => {
      expect(() => checkAppName(name)).toThrow(/invalid app name/);
      expect(isAppName(name)).toBe(false);
    },
  );

  test("generated names follow the rule", () => {
    for (let i = 0; i < 200; i++) expect(isAppName(generateAppName())).toBe(true);
    expect(generateAppName()).toMatch(/^[a-z]+-[a-z]+-\d{4}$/);
  });
});

describe("config keys and values", () => {
  test.each(["A", "_A", "DATABASE_URL", "a1"])("accepts key %p", (key) => expect(checkConfigKey(key)).toBe(key));
  test.each(["1A", "A-B", "A B", "", "A=B", "Ä"])("refuses key %p", (key) => expect(() => checkConfigKey(key)).toThrow(/invalid config key/));

  test("values up to 32 KiB, and the error never echoes the value", () => {
    expect(checkConfigValue("K", "x".repeat(32 * 1024))).toHaveLength(32 * 1024);
    const big = "supersecret".repeat(4000);
    try {
      checkConfigValue("K", big);
      throw new Error("should have thrown");
    } catch (err) {
      expect((err as Error).message).toBe("value of K is larger than 32 KiB");
    }
    expect(() => checkConfigValue("K", 5)).toThrow(/must be a string/);
  });
});

describe("emails", () => {
  test("lowercases valid addresses and refuses others", () => {
    expect(checkEmail("Me@Example.COM")).toBe("me@example.com");
    for (const bad of ["", "me", "me@", "@x.y", "a b@c.d", 7]) expect(() => checkEmail(bad)).toThrow(/invalid email/);
  });
});
