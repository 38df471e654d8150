import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { apiKeyFrom } from "../../src/api/auth.ts";
import { createGitHttp } from "../../src/git/http.ts";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import { alice, appExists, authorize, bob, carol, createGitFixture, type GitFixture, HOOK_COMMAND, userForKey } from "./fixture.ts";

let fx: GitFixture;
let server: ReturnType<typeof Bun.serve>;
let base: string;
let work: string;
const logger = createMemoryLogger();

const basic = (user: string, key: string) => `Authorization: Basic ${Buffer.from(`${user}:${key}`).toString("base64")}`;
const netrc = (key: string) => writeFileSync(join(fx.home, ".netrc"), `machine 127.0.0.1 login x password ${key}\n`, { mode: 0o600 });
const noNetrc = () => rmSync(join(fx.home, ".netrc"), { force: true });

/** The git HTTP handler as the daemon wires it, over this file's fixture. */
function gitHttp() {
  return createGitHttp({
    reposDir: fx.reposDir,
    hookCommand: HOOK_COMMAND,
    logger,
    authenticate: async (req) => userForKey(apiKeyFrom(req.headers.get("authorization") ?? undefined)),
    authorize,
    appExists,
    hookEnv: () => fx.hookEnv(),
  });
}

beforeAll(async () => {
  fx = await createGitFixture("git-http");
  const git = gitHttp();
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: async (req, srv) => (await git(req, srv)) ?? new Response("api fallthrough", { status: 418 }),
  });
  base = `http://127.0.0.1:${server.port}`;
  work = await fx.workRepo("shop");
  netrc(alice.apiKey);
});

afterAll(async () => {
  await server?.stop(true);
  await fx?.stop();
});

describe("git push over smart HTTP", () => {
  test("push main with ~/.netrc credentials: the hook sees the push, output arrives live, the ref moves", async () => {
    fx.script.lines = ["-----> Building shop", "-----> Compiling", "-----> Released v1"];
    fx.script.delayMs = 300;
    fx.script.exit = 0;
    const sha = (await fx.git(work, ["rev-parse", "HEAD"])).stdout.trim();
    const started = Date.now();
    const res = await fx.git(work, ["push", `${base}/shop.git`, "main"]);
    expect(res.code).toBe(0);
    expect(res.stderr).toContain("remote: -----> Building shop");
    expect(res.stderr).toContain("remote: -----> Released v1");
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    const push = fx.pushes.at(-1)!;
    expect(push.body).toMatchObject({
      app: "shop",
      userId: alice.id,
      repoPath: join(fx.reposDir, "shop.git"),
      refs: [{ old: "0".repeat(40), new: sha, ref: "refs/heads/main" }],
      pushOptions: [],
      clean: false,
      hot: false,
    });
    expect(push.body.gitEnv.GIT_QUARANTINE_PATH).toStartWith(join(fx.reposDir, "shop.git"));
    expect(push.body.gitEnv.GIT_QUARANTINE_PATH).toContain("tmp_objdir-incoming");
    expect(push.body.gitEnv.GIT_OBJECT_DIRECTORY).toBe(push.body.gitEnv.GIT_QUARANTINE_PATH!);
    expect(push.archiveCodes).toEqual([0]);
    expect(push.files["refs/heads/main"]).toEqual(["mix.exs"]);
    const remote = await fx.git(join(fx.reposDir, "shop.git"), ["rev-parse", "refs/heads/main"]);
    expect(remote.stdout.trim()).toBe(sha);
  });

  test("build output lines reach git while the build runs, not at the end", async () => {
    fx.script.lines = ["-----> first", "-----> second"];
    fx.script.delayMs = 1500;
    await fx.commit(work, "live.txt", "live\n");
    const proc = Bun.spawn(["git", "push", `${base}/shop.git`, "main"], {
      cwd: work,
      env: { ...process.env, HOME: fx.home, GIT_TERMINAL_PROMPT: "0", GIT_CONFIG_NOSYSTEM: "1" },
      stderr: "pipe",
      stdout: "ignore",
    });
    const decoder = new TextDecoder();
    let seen = "";
    let firstAt = 0;
    const started = Date.now();
    for await (const chunk of proc.stderr) {
      seen += decoder.decode(chunk);
      if (!firstAt && seen.includes("remote: -----> first")) firstAt = Date.now();
    }
    expect(await proc.exited).toBe(0);
    const total = Date.now() - started;
    expect(firstAt).toBeGreaterThan(0);
    expect(total - (firstAt - started)).toBeGreaterThan(2000);
    fx.script.delayMs = 0;
  });

  test("push with http.extraheader instead of ~/.netrc", async () => {
    noNetrc();
    await fx.commit(work, "a.txt", "a\n");
    const res = await fx.git(work, ["-c", `http.extraheader=${basic("anything", alice.apiKey)}`, "push", `${base}/shop`, "main"]);
    expect(res.code).toBe(0);
    expect(fx.pushes.at(-1)!.body.userId).toBe(alice.id);
    netrc(alice.apiKey);
  });

  test("a failing build rejects the push and its lines show", async () => {
    fx.script.lines = ["-----> Building", " !     mix compile failed"];
    fx.script.exit = 1;
    const before = (await fx.git(join(fx.reposDir, "shop.git"), ["rev-parse", "main"])).stdout.trim();
    const sha = await fx.commit(work, "broken.ex", "oops\n");
    const res = await fx.git(work, ["push", `${base}/shop.git`, "main"]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("remote:  !     mix compile failed");
    expect(res.stderr).toContain("pre-receive hook declined");
    const after = (await fx.git(join(fx.reposDir, "shop.git"), ["rev-parse", "main"])).stdout.trim();
    expect(after).toBe(before);
    expect(fx.pushes.at(-1)!.body.refs[0]!.new).toBe(sha);
    fx.script.exit = 0;
    fx.script.lines = ["ok"];
  });

  test("pushes to other refs reach the hook too", async () => {
    const res = await fx.git(work, ["push", `${base}/shop.git`, "main:refs/heads/feature", "main:refs/tags/v1"]);
    expect(res.code).toBe(0);
    const refs = fx.pushes.at(-1)!.body.refs.map((r) => r.ref).sort();
    expect(refs).toEqual(["refs/heads/feature", "refs/tags/v1"]);
  });

  test("force push", async () => {
    const old = (await fx.git(join(fx.reposDir, "shop.git"), ["rev-parse", "main"])).stdout.trim();
    await fx.git(work, ["reset", "-q", "--hard", "HEAD~2"]);
    const sha = await fx.commit(work, "rewrite.txt", "new history\n");
    const plain = await fx.git(work, ["push", `${base}/shop.git`, "main"]);
    expect(plain.code).not.toBe(0);
    const res = await fx.git(work, ["push", "--force", `${base}/shop.git`, "main"]);
    expect(res.code).toBe(0);
    expect(fx.pushes.at(-1)!.body.refs).toEqual([{ old, new: sha, ref: "refs/heads/main" }]);
  });

  test("git push -o clean reaches pushOptions", async () => {
    await fx.commit(work, "b.txt", "b\n");
    const res = await fx.git(work, ["push", "-o", "clean", "-o", "note=hi there", `${base}/shop.git`, "main"]);
    expect(res.code).toBe(0);
    expect(fx.pushes.at(-1)!.body.pushOptions).toEqual(["clean", "note=hi there"]);
    expect(fx.pushes.at(-1)!.body.clean).toBe(true);
  });

  test("the BEAMSTALK-CLEAN: true header reaches clean", async () => {
    await fx.commit(work, "c.txt", "c\n");
    const res = await fx.git(work, ["-c", "http.extraheader=BEAMSTALK-CLEAN: true", "push", `${base}/shop.git`, "main"]);
    expect(res.code).toBe(0);
    expect(fx.pushes.at(-1)!.body.clean).toBe(true);
    expect(fx.pushes.at(-1)!.body.pushOptions).toEqual([]);
  });

  test("the BEAMSTALK-HOT: true header and -o hot reach hot", async () => {
    await fx.commit(work, "h.txt", "h\n");
    expect((await fx.git(work, ["-c", "http.extraheader=BEAMSTALK-HOT: true", "push", `${base}/shop.git`, "main"])).code).toBe(0);
    expect(fx.pushes.at(-1)!.body).toMatchObject({ hot: true, clean: false, pushOptions: [] });
    await fx.commit(work, "h2.txt", "h2\n");
    expect((await fx.git(work, ["push", "-o", "hot", `${base}/shop.git`, "main"])).code).toBe(0);
    expect(fx.pushes.at(-1)!.body).toMatchObject({ hot: true, pushOptions: ["hot"] });
  });

  test("GIGALIXIR's headers, as its instructions write the push: GIGALIXIR-CLEAN and GIGALIXIR-HOT", async () => {
    // Anything but true is not a request (the same rule as BEAMSTALK-*).
    const cases: [string[], { clean: boolean; hot: boolean }][] = [
      [["GIGALIXIR-CLEAN: true"], { clean: true, hot: false }],
      [["GIGALIXIR-HOT: True "], { clean: false, hot: true }],
      [["GIGALIXIR-HOT: yes", "GIGALIXIR-CLEAN: 1"], { clean: false, hot: false }],
    ];
    for (const [i, [headers, expected]] of cases.entries()) {
      await fx.commit(work, `g${i}.txt`, `${i}\n`);
      const config = headers.flatMap((h) => ["-c", `http.extraheader=${h}`]);
      expect((await fx.git(work, [...config, "push", `${base}/shop.git`, "main"])).code).toBe(0);
      expect(fx.pushes.at(-1)!.body).toMatchObject({ ...expected, pushOptions: [] });
    }
  });

  test("a viewer cannot push: 403 with a message git shows", async () => {
    netrc(bob.apiKey);
    await fx.commit(work, "d.txt", "d\n");
    const count = fx.pushes.length;
    const res = await fx.git(work, ["push", `${base}/shop.git`, "main"]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("does not allow pushing");
    expect(res.stderr).toContain("403");
    expect(fx.pushes.length).toBe(count);
    netrc(alice.apiKey);
  });

  test("the daemon unreachable: push rejected with a clear message", async () => {
    const hookEnv = fx.hookEnv;
    fx.hookEnv = () => ({ BEAMSTALK_SOCKET: join(fx.root, "no-such.sock") });
    const res = await fx.git(work, ["push", `${base}/shop.git`, "main"]);
    fx.hookEnv = hookEnv;
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("remote: beamstalk: the beamstalk daemon is not reachable");
  });
});

describe("fetching", () => {
  test("clone and fetch need read: a viewer may clone", async () => {
    netrc(bob.apiKey);
    const dest = join(fx.root, "work", "clone-bob");
    const res = await fx.git(fx.root, ["clone", "-q", `${base}/shop.git`, dest]);
    expect(res.code).toBe(0);
    expect(existsSync(join(dest, "mix.exs"))).toBe(true);
    const fetched = await fx.git(dest, ["fetch", "-q", "origin"]);
    expect(fetched.code).toBe(0);
    netrc(alice.apiKey);
  });

  test("protocol v2 clone works", async () => {
    const dest = join(fx.root, "work", "clone-v2");
    const res = await fx.git(fx.root, ["-c", "protocol.version=2", "clone", "-q", `${base}/shop.git`, dest]);
    expect(res.code).toBe(0);
  });

  test("another user's app answers 404, like an unknown one", async () => {
    netrc(carol.apiKey);
    const res = await fx.git(fx.root, ["clone", "-q", `${base}/shop.git`, join(fx.root, "work", "clone-carol")]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("remote: app shop not found");
    netrc(alice.apiKey);
  });
});

describe("refusals", () => {
  test("unknown app: clear error, no repository created", async () => {
    const res = await fx.git(work, ["push", `${base}/nope-app.git`, "main"]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("app nope-app not found");
    expect(existsSync(join(fx.reposDir, "nope-app.git"))).toBe(false);
  });

  test("a known app not yet pushed gets its repository on first use", async () => {
    const other = await fx.workRepo("other");
    const res = await fx.git(other, ["push", `${base}/other-app.git`, "main"]);
    expect(res.code).toBe(0);
    expect(existsSync(join(fx.reposDir, "other-app.git", "hooks", "pre-receive"))).toBe(true);
  });

  test("wrong API key: 401 with a Basic challenge; git fails authentication", async () => {
    netrc("bsk_wrong");
    const res = await fx.git(work, ["push", `${base}/shop.git`, "main"]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/Authentication failed|could not read Username/);
    netrc(alice.apiKey);
    const direct = await fetch(`${base}/shop.git/info/refs?service=git-upload-pack`);
    expect(direct.status).toBe(401);
    expect(direct.headers.get("www-authenticate")).toBe('Basic realm="beamstalk"');
  });

  const BAD = ["-h", "--upload-pack=x", "../x", "a;id", "$(id)", "..%2fx", "x", "Shop", "shop.git.git", "%2e%2e", "a%00b"];
  test.each(BAD)("bad app name %p: 400 before any process, nothing created", async (name) => {
    const before = fx.tree(["work", "home"]);
    const auth = { Authorization: `Basic ${Buffer.from(`x:${alice.apiKey}`).toString("base64")}` };
    for (const path of [`/${name}.git/info/refs?service=git-receive-pack`, `/${name}/info/refs?service=git-upload-pack`]) {
      const res = await rawGet(path, auth.Authorization);
      expect([400, 404]).toContain(res.status);
    }
    const post = await rawRequest("POST", `/${name}.git/git-receive-pack`, auth.Authorization, "0000");
    expect([400, 404]).toContain(post.status);
    expect(fx.tree(["work", "home"])).toEqual(before);
  });

  test("bad app names from git itself are refused", async () => {
    const before = fx.tree(["work", "home"]);
    for (const name of ["-h", "a;id", "$(id)"]) {
      const res = await fx.git(work, ["push", `${base}/${name}.git`, "main"]);
      expect(res.code).not.toBe(0);
    }
    expect(fx.tree(["work", "home"])).toEqual(before);
  });

  const ESCAPES = [
    "/../x.git/info/refs?service=git-upload-pack",
    "/../shop.git/info/refs?service=git-upload-pack",
    "/%2e%2e/x.git/info/refs?service=git-upload-pack",
    "/..%2fx.git/info/refs?service=git-upload-pack",
    "/..%2f..%2fetc.git/info/refs?service=git-upload-pack",
    "/shop.git/../../x.git/info/refs?service=git-upload-pack",
    "/repos/shop.git/info/refs?service=git-upload-pack",
    "//shop.git/info/refs?service=git-upload-pack",
    "/shop.git/info/refs/../../../etc/passwd",
    "/shop.git/objects/info/packs",
    "/shop.git/HEAD",
    "/shop.git/info/refs",
    "/shop.git/info/refs?service=git-upload-archive",
  ];
  test.each(ESCAPES)("path escape %p: refused, nothing served from disk", async (path) => {
    const res = await rawGet(path, `Basic ${Buffer.from(`x:${alice.apiKey}`).toString("base64")}`);
    if (process.env.SHOW) console.log(path, res.status);
    if (path === "/../shop.git/info/refs?service=git-upload-pack") {
      // the client-side normalisation of `/../shop.git` is the ordinary path: served, with authorization
      expect([200, 400, 404]).toContain(res.status);
      return;
    }
    expect([400, 404, 405, 418]).toContain(res.status);
    expect(res.body).not.toContain("refs/heads/main");
    expect(res.body).not.toContain("root:");
  });

  test("non-git paths fall through to the API", async () => {
    const res = await fetch(`${base}/v1/apps`);
    expect(res.status).toBe(418);
  });

  test("info/refs for upload-pack is served with the smart content type", async () => {
    const res = await fetch(`${base}/shop.git/info/refs?service=git-upload-pack`, {
      headers: { Authorization: `Bearer ${alice.apiKey}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-git-upload-pack-advertisement");
    expect(await res.text()).toContain("# service=git-upload-pack");
  });
});

describe("long builds and compressed bodies", () => {
  test("a build silent for longer than Bun.serve's idleTimeout still finishes (the handler lifts it per request)", async () => {
    const git = gitHttp();
    const strict = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      idleTimeout: 1,
      fetch: async (req, srv) => (await git(req, srv)) ?? new Response("no", { status: 404 }),
    });
    try {
      fx.script.lines = ["-----> compiling quietly", "-----> done"];
      fx.script.delayMs = 2500;
      await fx.commit(work, "quiet.txt", "q\n");
      const res = await fx.git(work, ["push", `http://127.0.0.1:${strict.port}/shop.git`, "main"]);
      expect(res.stderr).toContain("remote: -----> done");
      expect(res.code).toBe(0);
    } finally {
      fx.script.delayMs = 0;
      fx.script.lines = ["ok"];
      await strict.stop(true);
    }
  }, 20_000);

  test("a gzip-compressed upload-pack request is inflated by http-backend", async () => {
    const sha = (await fx.git(join(fx.reposDir, "shop.git"), ["rev-parse", "main"])).stdout.trim();
    const pkt = (line: string) => (line.length + 4).toString(16).padStart(4, "0") + line;
    const body = Buffer.from(Bun.gzipSync(pkt(`want ${sha}\n`) + "0000" + pkt("done\n")));
    const res = await fetch(`${base}/shop.git/git-upload-pack`, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${alice.apiKey}`,
        "Content-Type": "application/x-git-upload-pack-request",
        "Content-Encoding": "gzip",
      },
      body,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-git-upload-pack-result");
    expect(new TextDecoder().decode(await res.arrayBuffer())).toContain("PACK");
  });
});

describe("stalled transfers", () => {
  test("an upload that stops moving is cut off after the idle timeout", async () => {
    const stallLogger = createMemoryLogger();
    const git = createGitHttp({
      reposDir: fx.reposDir,
      hookCommand: HOOK_COMMAND,
      logger: stallLogger,
      authenticate: async (req) => userForKey(apiKeyFrom(req.headers.get("authorization") ?? undefined)),
      authorize,
      appExists,
      hookEnv: () => fx.hookEnv(),
      uploadIdleTimeoutMs: 400,
    });
    const slow = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: async (req, srv) => (await git(req, srv)) ?? new Response("no", { status: 404 }),
    });
    try {
      const started = Date.now();
      const res = await rawRequest(
        "POST",
        "/shop.git/git-receive-pack",
        `Basic ${Buffer.from(`x:${alice.apiKey}`).toString("base64")}`,
        "00",
        { port: slow.port!, contentLength: 100_000 },
      );
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(350);
      expect(took).toBeLessThan(5000);
      // http-backend may already have sent its 200 header; the stream then ends without git's report
      expect(res.body).not.toContain("unpack ok");
      expect(stallLogger.lines.some((l) => l.includes("git.http.stalled"))).toBe(true);
    } finally {
      await slow.stop(true);
    }
  });
});

/** A raw HTTP/1.1 request, so neither fetch nor git normalises the path first. */
function rawRequest(
  method: string,
  path: string,
  authorization: string,
  body = "",
  opts: { port?: number; contentLength?: number } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(opts.port ?? server.port!, "127.0.0.1");
    let data = "";
    socket.on("connect", () => {
      socket.write(
        `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${authorization}\r\nConnection: close\r\n` +
          (method === "POST" ? `Content-Type: application/x-git-receive-pack-request\r\nContent-Length: ${opts.contentLength ?? body.length}\r\n` : "") +
          `\r\n${body}`,
      );
    });
    socket.on("data", (chunk) => (data += chunk.toString()));
    socket.on("end", () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      resolve({ status, body: data.slice(data.indexOf("\r\n\r\n") + 4) });
    });
    socket.on("error", reject);
  });
}

function rawGet(path: string, authorization: string) {
  return rawRequest("GET", path, authorization);
}
