import { describe, expect, test } from "bun:test";
import { mergeProcessTypes, parseProcfile, parseReleaseYaml } from "./process-types.ts";

describe("process types", () => {
  test("bin/release YAML: default_process_types only", () => {
    const yaml = [
      "---",
      "addons:",
      "  - heroku-postgresql",
      "config_vars:",
      "  FOO: bar",
      "default_process_types:",
      "  web: bin/hello start",
      '  worker: "bin/hello eval \\"Worker.run()\\""',
      "  clock: 'echo ''tick'''",
    ].join("\n");
    expect(parseReleaseYaml(yaml)).toEqual({
      web: "bin/hello start",
      worker: 'bin/hello eval "Worker.run()"',
      clock: "echo 'tick'",
    });
    expect(parseReleaseYaml("---\ndefault_process_types: {}\n")).toEqual({});
    expect(parseReleaseYaml("")).toEqual({});
  });

  test("Procfile", () => {
    expect(parseProcfile("web: bin/hello start\n# comment\n\nworker:bin/w  --x\r\nbad line\n")).toEqual({
      web: "bin/hello start",
      worker: "bin/w  --x",
    });
  });

  test("later buildpacks override earlier ones; the Procfile overrides all", () => {
    expect(mergeProcessTypes([{ web: "a", x: "1" }, { web: "b" }], { web: "c" })).toEqual({ web: "c", x: "1" });
    expect(mergeProcessTypes([{ web: "a" }], null)).toEqual({ web: "a" });
  });
});
