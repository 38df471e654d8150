import { describe, expect, test } from "bun:test";
import { buildContainerArgv } from "./container.ts";

describe("build container", () => {
  const spec = {
    name: "beamstalk-build-hello-1234",
    image: "beamstalk/build:bookworm",
    app: "hello",
    memoryBytes: 2048,
    maxSlugBytes: 100,
    mounts: [
      { source: "/w/app", target: "/app", readOnly: false },
      { source: "/w/env", target: "/env", readOnly: true },
    ],
  };

  test("argv: named, labelled, memory-capped, no published ports, mounts, the driver", () => {
    expect(buildContainerArgv(spec)).toEqual([
      "docker", "run", "--name", "beamstalk-build-hello-1234",
      "--label", "beamstalk.role=build", "--label", "beamstalk.app=hello",
      "--memory", "2048", "--memory-swap", "2048", "--pids-limit", "4096",
      "--workdir", "/app", "--env", "STACK=bookworm", "--env", "BEAMSTALK_MAX_SLUG_BYTES=100",
      "--mount", "type=bind,source=/w/app,target=/app",
      "--mount", "type=bind,source=/w/env,target=/env,readonly",
      "--", "beamstalk/build:bookworm", "bash", "/beamstalk/meta/driver.sh",
    ]);
  });

  test("paths that would break --mount's syntax are refused", () => {
    const bad = { ...spec, mounts: [{ source: "/w/a,target=/etc", target: "/app", readOnly: false }] };
    expect(() => buildContainerArgv(bad)).toThrow("cannot mount");
  });
});
