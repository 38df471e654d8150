import { describe, expect, test } from "bun:test";
import { Secret } from "../../lib/secret.ts";
import type { ReplicaSpec } from "../types.ts";
import { containerSpec, labelFilters, networkSpec, replicaHost } from "./spec.ts";

const spec: ReplicaSpec = {
  app: "hello",
  release: 7,
  process: "web",
  index: 2,
  image: "beamstalk/run:bookworm",
  command: "bin/hello start",
  slugPath: "/var/lib/beamstalk/slugs/hello/ab12.tar.gz",
  env: { APP_NAME: "hello", SECRET_KEY_BASE: new Secret("s3cret"), PORT: "9999" },
  port: 4000,
  size: 1,
};

describe("containerSpec", () => {
  test("is the exact create body: labels, env, network, limits, mounts, no ports", () => {
    expect(containerSpec(spec, { bootScriptPath: "/var/lib/beamstalk/runner/boot", suffix: "k3x9ab" })).toEqual({
      name: "beamstalk-hello-web-2-v7-k3x9ab",
      Image: "beamstalk/run:bookworm",
      Hostname: "web-2-k3x9ab.hello",
      Entrypoint: ["/bin/bash", "/beamstalk/boot"],
      Cmd: [],
      Env: [
        "RELEASE_DISTRIBUTION=name",
        "APP_NAME=hello",
        "SECRET_KEY_BASE=s3cret",
        "PORT=4000",
        "DYNO=web.2",
        "BEAMSTALK_APP=hello",
        "BEAMSTALK_RELEASE=7",
        "BEAMSTALK_PROCESS=web",
        "BEAMSTALK_INDEX=2",
        "BEAMSTALK_COMMAND=bin/hello start",
        "RELEASE_NODE=hello@web-2-k3x9ab.hello",
        "MY_NODE_NAME=hello@web-2-k3x9ab.hello",
        "DNS_CLUSTER_QUERY=hello.internal",
      ],
      Labels: {
        "beamstalk.managed": "true",
        "beamstalk.app": "hello",
        "beamstalk.release": "7",
        "beamstalk.process": "web",
        "beamstalk.index": "2",
        "beamstalk.port": "4000",
        "beamstalk.host": "web-2-k3x9ab.hello",
        "beamstalk.cpus": "0.2",
      },
      StopSignal: "SIGTERM",
      StopTimeout: 30,
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
        Memory: 1073741824,
        MemorySwap: 1073741824,
        NanoCpus: 200_000_000,
        RestartPolicy: { Name: "unless-stopped", MaximumRetryCount: 0 },
        Init: true,
        SecurityOpt: ["no-new-privileges:true"],
        LogConfig: { Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } },
      },
      NetworkingConfig: {
        EndpointsConfig: { "beamstalk-hello": { Aliases: ["hello.internal", "web-2-k3x9ab.hello"] } },
      },
    });
  });

  test("a boot burst raises the CPU limit at create; the size's limit is kept in a label for settle()", () => {
    const body = containerSpec({ ...spec, size: 0.5 }, { bootScriptPath: "/b", suffix: "aaaa", bootCpus: 2 });
    expect(body.HostConfig?.NanoCpus).toBe(2_000_000_000);
    expect(body.Labels?.["beamstalk.cpus"]).toBe("0.1");
    expect(containerSpec({ ...spec, size: 16 }, { bootScriptPath: "/b", suffix: "aaaa", bootCpus: 2 }).HostConfig?.NanoCpus).toBe(3_200_000_000);
  });

  test("sizes scale memory and CPU; extra labels never override ours", () => {
    const body = containerSpec({ ...spec, size: 2.5 }, { bootScriptPath: "/b", suffix: "aaaa", labels: { "beamstalk.app": "other", "beamstalk.test": "run1" }, stopTimeoutSeconds: 5 });
    expect(body.HostConfig?.Memory).toBe(2.5 * 1024 ** 3);
    expect(body.HostConfig?.NanoCpus).toBe(500_000_000);
    expect(body.StopTimeout).toBe(5);
    expect(body.Labels?.["beamstalk.app"]).toBe("hello");
    expect(body.Labels?.["beamstalk.test"]).toBe("run1");
  });

  test("RELEASE_DISTRIBUTION is name unless the app's env says otherwise (none: an app without distribution)", () => {
    const env = (extra: Record<string, string>) => containerSpec({ ...spec, env: { ...spec.env, ...extra } }, { bootScriptPath: "/b", suffix: "aaaa" }).Env!;
    expect(env({}).filter((e) => e.startsWith("RELEASE_DISTRIBUTION="))).toEqual(["RELEASE_DISTRIBUTION=name"]);
    expect(env({ RELEASE_DISTRIBUTION: "none" }).filter((e) => e.startsWith("RELEASE_DISTRIBUTION="))).toEqual(["RELEASE_DISTRIBUTION=none"]);
    // What the runner owns still wins over the app's env.
    expect(env({ PORT: "1", DYNO: "x" })).toContain("DYNO=web.2");
  });

  test("the Secret is revealed only in Env, and the spec itself never prints it", () => {
    const body = containerSpec(spec, { bootScriptPath: "/b", suffix: "aaaa" });
    const { Env, ...rest } = body;
    expect(Env).toContain("SECRET_KEY_BASE=s3cret");
    expect(JSON.stringify(rest)).not.toContain("s3cret");
    expect(JSON.stringify(spec)).not.toContain("s3cret");
  });

  test("with a slug URL: the boot script gets BEAMSTALK_SLUG_URL and BEAMSTALK_SLUG_TOKEN (last: the runner owns them), and no slug is mounted", () => {
    const slugUrl = { url: "http://10.0.0.1:8080/internal/slugs/hello/7", token: new Secret("tok-en_123") };
    const body = containerSpec({ ...spec, slugUrl, env: { ...spec.env, BEAMSTALK_SLUG_URL: "http://evil/" } }, { bootScriptPath: "/var/lib/beamstalk/runner/boot", suffix: "k3x9ab" });
    // The same environment as with a mount (the exact list is asserted above), plus the two; the app's own BEAMSTALK_SLUG_URL loses.
    const mounted = containerSpec(spec, { bootScriptPath: "/var/lib/beamstalk/runner/boot", suffix: "k3x9ab" }).Env!;
    expect(body.Env).toEqual([...mounted.slice(0, 4), "BEAMSTALK_SLUG_URL=http://10.0.0.1:8080/internal/slugs/hello/7", ...mounted.slice(4), "BEAMSTALK_SLUG_TOKEN=tok-en_123"]);
    expect(mounted[3]).toBe("PORT=4000");
    expect(body.HostConfig?.Mounts).toEqual([{ Type: "bind", Source: "/var/lib/beamstalk/runner/boot", Target: "/beamstalk/boot", ReadOnly: true }]);
    expect([body.Entrypoint, body.Cmd]).toEqual([["/bin/bash", "/beamstalk/boot"], []]);
    const { Env, ...rest } = body;
    expect(JSON.stringify(rest)).not.toContain("tok-en_123");
    expect(JSON.stringify({ ...spec, slugUrl })).not.toContain("tok-en_123");
  });

  test.each([
    [{ url: "ftp://h/x", token: new Secret("t") }, /http\(s\) URL/],
    [{ url: "http://h/x y", token: new Secret("t") }, /http\(s\) URL/],
    [{ url: 'http://h/x"\nheader = "X: 1', token: new Secret("t") }, /http\(s\) URL/],
    [{ url: "http://h/x", token: new Secret("") }, /needs a token/],
    [{ url: "http://h/x", token: new Secret('a"\nurl = "http://evil/') }, /needs a token/],
    [{ url: "http://h/x", token: "plain" as unknown as Secret }, /needs a token/],
  ])("refuses slug URL %#", (slugUrl, message) => {
    expect(() => containerSpec({ ...spec, slugUrl }, { bootScriptPath: "/b", suffix: "aaaa" })).toThrow(message);
  });

  test("host names are dotted DNS names even for Procfile names with '_'", () => {
    expect(replicaHost({ app: "hello", process: "Release_Worker", index: 3 }, "zz12")).toBe("release-worker-3-zz12.hello");
  });

  test.each([
    [{ app: "Bad" }, /invalid app name/],
    [{ process: "we b" }, /invalid process type/],
    [{ process: "-x" }, /invalid process type/],
    [{ index: 0 }, /invalid index/],
    [{ release: 1.5 }, /invalid release/],
    [{ port: 70000 }, /invalid port/],
    [{ size: 0 }, /invalid size/],
    [{ command: " " }, /empty process command/],
    [{ slugPath: "relative.tar.gz" }, /absolute slug path/],
    [{ env: { "A=B": "x" } }, /invalid env name/],
  ] as const)("refuses %p", (change, message) => {
    expect(() => containerSpec({ ...spec, ...change } as ReplicaSpec, { bootScriptPath: "/b", suffix: "aaaa" })).toThrow(message);
  });

  test("refuses a suffix that is not short lowercase alphanumerics", () => {
    expect(() => containerSpec(spec, { bootScriptPath: "/b", suffix: "A/../x" })).toThrow(/bad suffix/);
  });
});

describe("networks and filters", () => {
  test("one labelled bridge per app", () => {
    expect(networkSpec("hello", { "beamstalk.test": "run1" })).toEqual({
      Name: "beamstalk-hello",
      Driver: "bridge",
      CheckDuplicate: true,
      Internal: false,
      Attachable: false,
      Labels: { "beamstalk.test": "run1", "beamstalk.managed": "true", "beamstalk.app": "hello" },
      Options: { "com.docker.network.bridge.enable_icc": "true" },
    });
  });

  test("label filters", () => {
    expect(labelFilters("hello")).toEqual(["beamstalk.managed=true", "beamstalk.app=hello"]);
    expect(labelFilters(undefined, { "beamstalk.test": "r" })).toEqual(["beamstalk.test=r", "beamstalk.managed=true"]);
  });
});
