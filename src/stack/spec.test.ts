import { describe, expect, test } from "bun:test";
import { debootstrapArgv, extraPackageSteps, importArgv, tarArgv } from "./spec.ts";

describe("stack build commands", () => {
  test("debootstrap: minbase with the run packages", () => {
    expect(debootstrapArgv("/tmp/root")).toEqual([
      "debootstrap",
      "--variant=minbase",
      "--include=libssl3,ca-certificates,postgresql-client",
      "bookworm",
      "/tmp/root",
      "http://deb.debian.org/debian",
    ]);
    expect(() => debootstrapArgv("relative")).toThrow("absolute");
    expect(() => debootstrapArgv("/tmp/root", "--foreign")).toThrow("not a mirror URL");
  });

  test("the run image needs no extra step; the build image adds its toolchain with apt-get", () => {
    expect(extraPackageSteps("run", "/r")).toEqual([]);
    const steps = extraPackageSteps("build", "/r");
    const prefix = ["chroot", "/r", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-y"];
    expect(steps[0]).toEqual([...prefix, "update"]);
    expect(steps[1]?.slice(0, 10)).toEqual([...prefix, "--no-install-recommends", "install", "--"]);
    for (const name of ["erlang-nox", "erlang-dev", "erlang-src", "elixir", "git", "build-essential", "nodejs", "npm"]) {
      expect(steps[1]).toContain(name);
    }
    expect(steps[2]).toEqual([...prefix, "clean"]);
  });

  test("tar leaves out apt lists, docs, man pages and locales", () => {
    const argv = tarArgv("/r");
    for (const pattern of ["./var/lib/apt/lists/*", "./usr/share/doc/*", "./usr/share/man/*", "./usr/share/locale/*"]) {
      expect(argv).toContain(`--exclude=${pattern}`);
    }
    expect(argv.slice(-4)).toEqual(["-C", "/r", "-c", "."]);
  });

  test("docker import sets PATH, LANG and labels", () => {
    const argv = importArgv("run", "beamstalk/run:bookworm");
    expect(argv.slice(0, 2)).toEqual(["docker", "import"]);
    expect(argv.slice(-2)).toEqual(["-", "beamstalk/run:bookworm"]);
    expect(argv).toContain("ENV LANG=C.UTF-8");
    expect(argv).toContain("LABEL beamstalk.stack.kind=run");
    expect(argv.filter((arg) => arg === "--change")).toHaveLength(6);
  });
});
