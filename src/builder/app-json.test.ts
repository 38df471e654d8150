import { describe, expect, test } from "bun:test";
import { AppJsonError, cronId, readAppJson } from "./app-json.ts";

function failure(text: string): { line: number; reason: string } {
  try {
    readAppJson(text);
  } catch (err) {
    if (err instanceof AppJsonError) return { line: err.line, reason: err.reason };
    throw err;
  }
  throw new Error("no error");
}

describe("app.json", () => {
  test("formation, healthchecks, cron and scripts.dokku, in Dokku's format", () => {
    const { manifest, warnings } = readAppJson(
      JSON.stringify(
        {
          name: "hello",
          formation: { web: { quantity: 2, size: 0.5 }, worker: { quantity: 1 } },
          healthchecks: { web: [{ type: "startup", name: "ready", path: "/health", attempts: 5, timeout: 2, wait: 1, initialDelay: 3, content: "ok" }] },
          cron: [{ command: "bin/hello eval 'Hello.tick()'", schedule: "*/5 * * * *" }],
          scripts: { dokku: { predeploy: "bin/hello eval 'Hello.migrate()'", postdeploy: "echo deployed" } },
        },
        null,
        2,
      ),
    );
    expect(warnings).toEqual([]);
    expect(manifest).toEqual({
      releasePhase: [{ source: "app.json scripts.dokku.predeploy", command: "bin/hello eval 'Hello.migrate()'" }],
      postdeploy: "echo deployed",
      formation: { web: { count: 2, size: 0.5 }, worker: { count: 1 } },
      healthchecks: { web: [{ name: "ready", path: "/health", attempts: 5, timeout: 2, wait: 1, initialDelay: 3, content: "ok" }] },
      cron: [{ id: cronId("*/5 * * * *", "bin/hello eval 'Hello.tick()'"), schedule: "*/5 * * * *", command: "bin/hello eval 'Hello.tick()'" }],
    });
    expect(manifest.cron[0]!.id).toMatch(/^[0-9a-f]{8}$/);
  });

  test("a check's defaults are Dokku's: 3 attempts, 5 s timeout, 5 s apart, no initial delay, path /", () => {
    const { manifest } = readAppJson('{"healthchecks": {"web": [{}]}}');
    expect(manifest.healthchecks.web).toEqual([{ name: "web check 1", path: "/", attempts: 3, timeout: 5, wait: 5, initialDelay: 0 }]);
  });

  test("unknown keys are ignored with a warning naming their line", () => {
    const text = `{
  "name": "hello",
  "env": { "A": { "value": "1" } },
  "formation": { "web": { "quantity": 1, "size": "standard-1X", "autoscale": true } },
  "healthchecks": { "web": [ { "type": "liveness", "path": "/" } ] },
  "cron": [ { "command": "true", "schedule": "@daily", "concurrency_policy": "allow" } ],
  "scripts": { "postdeploy": "x", "dokku": { "prebuild": "y" } }
}`;
    const { manifest, warnings } = readAppJson(text);
    expect(warnings).toEqual([
      'app.json line 3: "env" is not used by Beamstalk; ignored',
      'app.json line 4: "formation.web.size" "standard-1X" is not a Beamstalk size (a number, 1 = 1 GiB); size 1 is used',
      'app.json line 4: "formation.web.autoscale" is not used by Beamstalk; ignored',
      'app.json line 5: healthchecks.web[0]: only "startup" checks run (at each rollout); a "liveness" check is ignored',
      "app.json line 6: cron[0].concurrency_policy is not used by Beamstalk; ignored",
      'app.json line 7: "scripts.postdeploy" is not run by Beamstalk; ignored',
      'app.json line 7: "scripts.dokku.prebuild" is not run by Beamstalk; ignored',
    ]);
    expect(manifest.formation).toEqual({ web: { count: 1 } });
    expect(manifest.healthchecks).toEqual({ web: [] });
  });

  test("malformed JSON fails with the line and the reason", () => {
    expect(failure('{\n  "name": "x",\n  "cron": [\n    { "command": "true", }\n  ]\n}')).toEqual({ line: 4, reason: 'a trailing comma before "}" (column 26)' });
    expect(failure('{\n  "name": "x"\n  "formation": {}\n}')).toEqual({ line: 3, reason: 'expected "," or "}" after the value of "name", found "\\"" (column 3)' });
    expect(failure("{\n  // comment\n}")).toEqual({ line: 2, reason: 'expected a key in double quotes, found "/" (column 3)' });
    expect(failure('{"a": "unclosed\n}')).toEqual({ line: 1, reason: "a string runs past the end of its line (column 16)" });
    expect(failure("")).toEqual({ line: 1, reason: "expected a value, found the end of the file (column 1)" });
    expect(failure("{} []")).toEqual({ line: 1, reason: 'unexpected "[" after the end of the document (column 4)' });
  });

  test("values of the wrong kind fail with their line", () => {
    expect(failure("[]")).toEqual({ line: 1, reason: "the file must be an object ({ … })" });
    expect(failure('{\n  "cron": [\n    { "command": "true", "schedule": "61 * * * *" }\n  ]\n}')).toEqual({ line: 3, reason: 'cron entry 1: the minute field "61": 61 is out of range (0-59)' });
    expect(failure('{\n  "cron": [\n    { "command": "true" }\n  ]\n}')).toEqual({ line: 3, reason: 'cron entry 1 needs a "schedule" (a non-empty string)' });
    expect(failure('{\n  "cron": {}\n}')).toEqual({ line: 2, reason: '"cron" must be a list of { "command", "schedule" } entries' });
    expect(failure('{"cron": [{"command": "a", "schedule": "@daily"},\n {"command": "a", "schedule": "@daily"}]}')).toEqual({ line: 2, reason: "cron entry 2 repeats an earlier entry (same schedule and command)" });
    expect(failure('{\n "formation": {\n  "web": { "quantity": -1 }\n }\n}')).toEqual({ line: 3, reason: '"formation.web.quantity" must be a whole number from 0 to 100' });
    expect(failure('{\n "formation": { "web": { "size": 99 } }\n}')).toEqual({ line: 2, reason: '"formation.web.size" must be from 0.5 to 16 in steps of 0.1 (1 size = 1 GiB, 0.2 CPU)' });
    expect(failure('{\n "formation": { "web": { "size": 0.55 } }\n}')).toEqual({ line: 2, reason: '"formation.web.size" must be from 0.5 to 16 in steps of 0.1 (1 size = 1 GiB, 0.2 CPU)' });
    expect(failure('{\n "healthchecks": {\n  "web": [ { "path": "health" } ]\n }\n}')).toEqual({ line: 3, reason: "healthchecks.web[0].path must start with / and hold no spaces" });
    expect(failure('{\n "healthchecks": { "web": { "path": "/" } }\n}')).toEqual({ line: 2, reason: '"healthchecks.web" must be a list of checks ([ … ])' });
    expect(failure('{\n "scripts": {\n  "dokku": { "predeploy": "" }\n }\n}')).toEqual({ line: 3, reason: '"scripts.dokku.predeploy" must be a command (a non-empty string)' });
  });

  test("the same schedule and command keep their id; another command gets another", () => {
    expect(cronId("@daily", "true")).toBe(cronId("@daily", "true"));
    expect(cronId("@daily", "true")).not.toBe(cronId("@daily", "false"));
  });
});
