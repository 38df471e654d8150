import { describe, expect, test } from "bun:test";
import { debootstrapArgv, extraPackageSteps, importArgv, recipeHash, tarArgv } from "./spec.ts";

describe("stack build commands", () => {
  test("debootstrap: minbase with the run packages", () => {
    expect(debootstrapArgv("/tmp/root")).toEqual([
      "debootstrap",
      "--variant=minbase",
      "--include=libssl3,ca-certificates,postgresql-client,curl",
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

  test("docker import with a recipe puts it in the beamstalk.stack.recipe label, last", () => {
    const argv = importArgv("postgres", "beamstalk/postgres:15", ["LABEL beamstalk.postgres.version=15"], "0123456789abcdef");
    expect(argv.slice(2, -2)).toEqual([
      "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "--change", "ENV LANG=C.UTF-8",
      "--change", "ENV LC_ALL=C.UTF-8",
      "--change", 'CMD ["/bin/bash"]',
      "--change", "LABEL beamstalk.stack=bookworm",
      "--change", "LABEL beamstalk.stack.kind=postgres",
      "--change", "LABEL beamstalk.postgres.version=15",
      "--change", "LABEL beamstalk.stack.recipe=0123456789abcdef",
    ]);
  });
});

describe("recipe hash", () => {
  const run = { kind: "run", packages: [] as string[] };

  test("is 16 hex digits of sha256, the same for the same recipe", () => {
    expect(recipeHash(run)).toMatch(/^[0-9a-f]{16}$/);
    expect(recipeHash({ kind: "run", packages: [] })).toBe(recipeHash(run));
  });

  test("changes with the kind, the packages, their order and the import changes", () => {
    const hashes = [
      recipeHash(run),
      recipeHash({ kind: "build", packages: [] }),
      recipeHash({ kind: "run", packages: ["git"] }),
      recipeHash({ kind: "run", packages: ["git", "curl"] }),
      recipeHash({ kind: "run", packages: ["curl", "git"] }),
      recipeHash({ kind: "run", packages: [], changes: ["ENV X=1"] }),
    ];
    expect(new Set(hashes).size).toBe(hashes.length);
  });

  test("hashes the debootstrap packages, the recipe's packages and every import change (so adding curl rebuilt existing run images)", () => {
    const made = JSON.stringify({
      stack: "bookworm",
      debootstrap: ["libssl3", "ca-certificates", "postgresql-client", "curl"],
      packages: [],
      changes: [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        "ENV LC_ALL=C.UTF-8",
        'CMD ["/bin/bash"]',
        "LABEL beamstalk.stack=bookworm",
        "LABEL beamstalk.stack.kind=run",
      ],
    });
    expect(recipeHash(run)).toBe(new Bun.CryptoHasher("sha256").update(made).digest("hex").slice(0, 16));
    expect(recipeHash(run)).toBe("bc5e95c45cb65f03");
  });
});
