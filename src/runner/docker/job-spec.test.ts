import { describe, expect, test } from "bun:test";
import { Secret } from "../../lib/secret.ts";
import type { JobSpec } from "../types.ts";
import { checkArgv, jobContainerSpec, jobFilters } from "./job-spec.ts";

const spec: JobSpec = {
  app: "hello",
  release: 7,
  image: "beamstalk/run:bookworm",
  argv: ["bin/hello", "eval", 'IO.puts("a b; $(id)")'],
  slugPath: "/var/lib/beamstalk/slugs/hello/ab12.tar.gz",
  env: { APP_NAME: "hello", SECRET_KEY_BASE: new Secret("s3cret"), DYNO: "mine" },
  size: 1,
};

describe("jobContainerSpec", () => {
  test("is the exact create body: argv as Cmd after --exec, job labels, own host name only, no restart", () => {
    expect(jobContainerSpec(spec, { bootScriptPath: "/var/lib/beamstalk/runner/boot", suffix: "k3x9ab", labels: { "beamstalk.test": "t1" } })).toEqual({
      name: "beamstalk-hello-run-k3x9ab",
      Image: "beamstalk/run:bookworm",
      Hostname: "run-k3x9ab.hello",
      Entrypoint: ["/bin/bash", "/beamstalk/boot"],
      Cmd: ["--exec", "bin/hello", "eval", 'IO.puts("a b; $(id)")'],
      Env: [
        "APP_NAME=hello",
        "SECRET_KEY_BASE=s3cret",
        "DYNO=run.k3x9ab",
        "BEAMSTALK_APP=hello",
        "BEAMSTALK_RELEASE=7",
        "BEAMSTALK_PROCESS=run",
        "RELEASE_DISTRIBUTION=name",
        "RELEASE_NODE=hello@run-k3x9ab.hello",
        "MY_NODE_NAME=hello@run-k3x9ab.hello",
        "DNS_CLUSTER_QUERY=hello.internal",
      ],
      Labels: { "beamstalk.test": "t1", "beamstalk.job": "true", "beamstalk.app": "hello", "beamstalk.release": "7", "beamstalk.host": "run-k3x9ab.hello" },
      StopSignal: "SIGTERM",
      StopTimeout: 5,
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Tty: false,
      OpenStdin: false,
      HostConfig: {
        NetworkMode: "beamstalk-hello",
        Mounts: [
          { Type: "bind", Source: "/var/lib/beamstalk/slugs/hello/ab12.tar.gz", Target: "/beamstalk/slug.tar.gz", ReadOnly: true },
          { Type: "bind", Source: "/var/lib/beamstalk/runner/boot", Target: "/beamstalk/boot", ReadOnly: true },
        ],
        PortBindings: {},
        PublishAllPorts: false,
        Memory: 1024 ** 3,
        MemorySwap: 1024 ** 3,
        NanoCpus: 200_000_000,
        RestartPolicy: { Name: "no", MaximumRetryCount: 0 },
        Init: true,
        SecurityOpt: ["no-new-privileges:true"],
        LogConfig: { Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } },
      },
      NetworkingConfig: { EndpointsConfig: { "beamstalk-hello": { Aliases: ["run-k3x9ab.hello"] } } },
    });
  });

  test("with a slug URL: BEAMSTALK_SLUG_URL and BEAMSTALK_SLUG_TOKEN come last, only the boot script is mounted, argv unchanged", () => {
    const slugUrl = { url: "https://ctl.example/internal/slugs/hello/7", token: new Secret("tok-en_123") };
    const body = jobContainerSpec({ ...spec, slugUrl }, { bootScriptPath: "/var/lib/beamstalk/runner/boot", suffix: "k3x9ab" });
    expect(body.Env?.slice(-3)).toEqual(["DNS_CLUSTER_QUERY=hello.internal", "BEAMSTALK_SLUG_URL=https://ctl.example/internal/slugs/hello/7", "BEAMSTALK_SLUG_TOKEN=tok-en_123"]);
    expect(body.Env).toHaveLength(12);
    expect(body.HostConfig?.Mounts).toEqual([{ Type: "bind", Source: "/var/lib/beamstalk/runner/boot", Target: "/beamstalk/boot", ReadOnly: true }]);
    expect(body.Cmd).toEqual(["--exec", "bin/hello", "eval", 'IO.puts("a b; $(id)")']);
    const { Env, ...rest } = body;
    expect(JSON.stringify(rest)).not.toContain("tok-en_123");
    expect(() => jobContainerSpec({ ...spec, slugUrl: { url: "file:///etc/passwd", token: new Secret("t") } }, { bootScriptPath: "/b", suffix: "abcd" })).toThrow(/http\(s\) URL/);
  });

  test("is never a replica: no beamstalk.managed label, not on <app>.internal", () => {
    const body = jobContainerSpec(spec, { bootScriptPath: "/b", suffix: "abcd" });
    expect(Object.keys(body.Labels ?? {})).not.toContain("beamstalk.managed");
    expect(JSON.stringify(body.NetworkingConfig)).not.toContain("hello.internal");
  });

  test("size sets memory and CPU", () => {
    const body = jobContainerSpec({ ...spec, size: 2 }, { bootScriptPath: "/b", suffix: "abcd" });
    expect([body.HostConfig?.Memory, body.HostConfig?.NanoCpus]).toEqual([2 * 1024 ** 3, 400_000_000]);
  });

  test("refuses bad specs", () => {
    const bad = (over: Partial<JobSpec>) => () => jobContainerSpec({ ...spec, ...over }, { bootScriptPath: "/b", suffix: "abcd" });
    expect(bad({ app: "Bad_App" })).toThrow(/invalid app name/);
    expect(bad({ size: 0 })).toThrow(/invalid size/);
    expect(bad({ size: 65 })).toThrow(/invalid size/);
    expect(bad({ release: 0 })).toThrow(/invalid release/);
    expect(bad({ slugPath: "relative.tar.gz" })).toThrow(/absolute slug path/);
    expect(bad({ env: { "A-B": "x" } })).toThrow(/invalid env name/);
    expect(() => jobContainerSpec(spec, { bootScriptPath: "/b", suffix: "A/../x" })).toThrow(/bad suffix/);
  });

  test("job label filters", () => {
    expect(jobFilters("hello", { "beamstalk.test": "r" })).toEqual(["beamstalk.test=r", "beamstalk.job=true", "beamstalk.app=hello"]);
  });
});

describe("checkArgv", () => {
  test("keeps every argument as given, empty ones too", () => {
    expect(checkArgv(["printf", "%s|", "a b", "", "$(id)"])).toEqual(["printf", "%s|", "a b", "", "$(id)"]);
  });

  test.each([
    [[], /no command given/],
    ["bin/hello eval", /no command given/],
    [[""], /command is empty/],
    [["ls", 3], /must be a string/],
    [["ls", "a\0b"], /NUL/],
    [Array(1025).fill("x"), /at most 1024 arguments/],
    [["echo", "x".repeat(70_000)], /longer than 64 KiB/],
  ])("refuses %#", (argv, message) => {
    expect(() => checkArgv(argv)).toThrow(message);
  });

  test("its errors never echo an argument", () => {
    try {
      checkArgv(["ls", "sk_live_abc\0"]);
    } catch (err) {
      expect((err as Error).message).not.toContain("sk_live");
    }
  });
});
