import { expect, test } from "bun:test";
import { elixirCall, looksLikeModule } from "./elixir-call.ts";

test("Elixir. is prepended when missing, kept when given", () => {
  expect(elixirCall("Tasks", "migrate")).toBe("Elixir.Tasks.migrate()");
  expect(elixirCall("Elixir.MyApp.Release", "seed!")).toBe("Elixir.MyApp.Release.seed!()");
  expect(elixirCall("MyApp.Tasks_2", "ready?")).toBe("Elixir.MyApp.Tasks_2.ready?()");
});

test.each([
  ["tasks", "migrate", "not an Elixir module name"],
  ["Tasks;System", "halt", "not an Elixir module name"],
  ["Tasks.", "migrate", "not an Elixir module name"],
  ["Elixir.", "migrate", "not an Elixir module name"],
  [":erlang", "halt", "not an Elixir module name"],
  ["Tasks", "Migrate", "not an Elixir function name"],
  ["Tasks", "migrate()", "not an Elixir function name"],
  ["Tasks", "migrate; System.halt(1)", "not an Elixir function name"],
  ["Tasks", "", "not an Elixir function name"],
  ["Tasks", 1, "not an Elixir function name"],
  [null, "migrate", "not an Elixir module name"],
])("refuses %p %p", (module, fn, message) => {
  expect(() => elixirCall(module, fn)).toThrow(message);
});

test("a word is taken for a module when it starts with a capital", () => {
  expect(looksLikeModule("Elixir.Tasks")).toBe(true);
  expect(looksLikeModule("Tasks")).toBe(true);
  expect(looksLikeModule("bin/hello")).toBe(false);
  expect(looksLikeModule("echo")).toBe(false);
});
