import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { BINARY, tempDir } from "../support/daemon.ts";

const ROOT = resolve(import.meta.dir, "../..");
const servers: { stop(force?: boolean): void }[] = [];
afterAll(() => servers.forEach((s) => s.stop(true)));

interface Run {
  code: number;
  stderr: string;
}

/** Installs into temporary directories; this machine runs no systemd, so no unit is started. */
function settings() {
  const dir = tempDir("install");
  return { dir, bin: join(dir, "bin"), data: join(dir, "data") };
}

async function runInstaller(argv: string[], env: Record<string, string>, cwd: string): Promise<Run> {
  const proc = Bun.spawn(argv, { cwd, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdout: "pipe", stderr: "pipe" });
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  return { code, stderr };
}

/** `curl -fsSL URL | sh`, as two processes joined by a pipe: no shell string. */
async function curlPipeSh(url: string, env: Record<string, string>, cwd: string): Promise<Run> {
  const curl = Bun.spawn(["curl", "-fsSL", url], { stdout: "pipe", stderr: "ignore" });
  const sh = Bun.spawn(["sh"], { cwd, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdin: curl.stdout, stdout: "pipe", stderr: "pipe" });
  const [stderr, code] = await Promise.all([new Response(sh.stderr).text(), sh.exited, curl.exited]);
  return { code, stderr };
}

function serveRelease(binary = BINARY) {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/install.sh") return new Response(Bun.file(join(ROOT, "install.sh")));
      if (path === "/beamstalk-linux-x64") return new Response(Bun.file(binary));
      return new Response("not found", { status: 404 });
    },
  });
  servers.push(server);
  return `http://127.0.0.1:${server.port}`;
}

describe("install.sh", () => {
  test("./install.sh from the checkout builds from source, installs, and is idempotent", async () => {
    const s = settings();
    const env = { BEAMSTALK_BIN_DIR: s.bin, BEAMSTALK_DATA_DIR: s.data };
    for (let round = 1; round <= 2; round++) {
      const res = await runInstaller(["./install.sh"], env, ROOT);
      expect({ round, code: res.code, stderr: res.stderr }).toMatchObject({ round, code: 0 });
      expect(res.stderr).toContain("building from source");
      expect(res.stderr).toContain("Docker: running");
      expect(res.stderr).toContain("systemd is not running here: nothing was started");
      expect(res.stderr).toContain(`start it with: ${s.bin}/beamstalk server --data-dir ${s.data}`);
    }
    const installed = join(s.bin, "beamstalk");
    expect(statSync(installed).mode & 0o777).toBe(0o755);
    expect(Bun.spawnSync([installed, "--version"]).stdout.toString().trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(statSync(s.data).mode & 0o777).toBe(0o700);
    expect(Bun.spawnSync(["ls", "-A", s.bin]).stdout.toString().trim()).toBe("beamstalk");
  }, 120_000);

  test("curl | sh downloads the binary from BEAMSTALK_DOWNLOAD_URL", async () => {
    const base = serveRelease();
    const s = settings();
    const res = await curlPipeSh(`${base}/install.sh`, { BEAMSTALK_BIN_DIR: s.bin, BEAMSTALK_DATA_DIR: s.data, BEAMSTALK_DOWNLOAD_URL: `${base}/beamstalk-linux-x64` }, s.dir);
    expect(res.code).toBe(0);
    expect(res.stderr).toContain(`downloading ${base}/beamstalk-linux-x64`);
    expect(res.stderr).not.toContain("building from source");
    expect(res.stderr).toContain("Beamstalk is installed.");
    const installed = readFileSync(join(s.bin, "beamstalk"));
    expect(installed.equals(readFileSync(BINARY))).toBe(true);
  }, 120_000);

  test("curl | sh again over a running daemon (no systemd) hands it over to the new binary", async () => {
    const s = settings();
    const first = serveRelease();
    expect((await curlPipeSh(`${first}/install.sh`, { BEAMSTALK_BIN_DIR: s.bin, BEAMSTALK_DATA_DIR: s.data, BEAMSTALK_DOWNLOAD_URL: `${first}/beamstalk-linux-x64` }, s.dir)).code).toBe(0);
    const installed = join(s.bin, "beamstalk");
    const socket = join(s.data, "beamstalk.sock");
    const old = Bun.spawn([installed, "server", "--data-dir", s.data, "--bind", "127.0.0.1", "--http-port", "0", "--https-port", "0", "--ssh-port", "0"], { stdout: "ignore", stderr: "ignore" });
    let successor = 0;
    try {
      const version = () => Bun.spawnSync([installed, "version", "--socket", socket, "--json"]).stdout.toString();
      for (let i = 0; i < 100 && !version(); i++) await Bun.sleep(100);
      const before = JSON.parse(version()) as { server: string };
      // The release now offers another build of the same source.
      const next = join(tempDir("next"), "beamstalk");
      expect(Bun.spawnSync(["bun", "build.ts"], { cwd: ROOT, env: { ...process.env, BEAMSTALK_OUT: next, BEAMSTALK_BUILD_TAG: "next" } }).exitCode).toBe(0);
      const second = serveRelease(next);
      const res = await curlPipeSh(`${second}/install.sh`, { BEAMSTALK_BIN_DIR: s.bin, BEAMSTALK_DATA_DIR: s.data, BEAMSTALK_DOWNLOAD_URL: `${second}/beamstalk-linux-x64` }, s.dir);
      expect(res.code).toBe(0);
      expect(res.stderr).toContain(`the running daemon handed over to ${installed}`);
      const after = JSON.parse(version()) as { server: string };
      expect(after.server).toBe(`${before.server}+next`);
      expect(await Promise.race([old.exited, Bun.sleep(10_000).then(() => "still running")])).toBe(0);
      successor = Number(readFileSync(join(s.data, "daemon.pid"), "utf8").trim());
      expect(successor).not.toBe(old.pid);
    } finally {
      old.kill();
      if (successor) process.kill(successor, "SIGTERM");
    }
  }, 120_000);

  test("a failed download leaves the installed binary as it was", async () => {
    const base = serveRelease();
    const s = settings();
    mkdirSync(s.bin, { recursive: true });
    writeFileSync(join(s.bin, "beamstalk"), "previous version");
    const res = await curlPipeSh(`${base}/install.sh`, { BEAMSTALK_BIN_DIR: s.bin, BEAMSTALK_DATA_DIR: s.data, BEAMSTALK_DOWNLOAD_URL: `${base}/missing` }, s.dir);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain(`error: download failed: ${base}/missing`);
    expect(readFileSync(join(s.bin, "beamstalk"), "utf8")).toBe("previous version");
    expect(Bun.spawnSync(["ls", "-A", s.bin]).stdout.toString().trim()).toBe("beamstalk");
  });

  test("refuses unsafe settings", async () => {
    const s = settings();
    const res = await runInstaller(["sh", join(ROOT, "install.sh")], { BEAMSTALK_BIN_DIR: s.bin, BEAMSTALK_DATA_DIR: "/tmp/a b;id" }, s.dir);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("may hold only letters");
    expect(existsSync(s.bin)).toBe(false);
  });
});

describe("the systemd unit", () => {
  const analyze = Bun.which("systemd-analyze");
  test.skipIf(!analyze)("passes systemd-analyze verify", () => {
    const dir = tempDir("unit");
    const unit = Bun.spawnSync([BINARY, "systemd-unit", "--binary", BINARY, "--data-dir", "/var/lib/beamstalk"]).stdout.toString();
    expect(unit).toContain(`ExecStart=${BINARY} server --data-dir /var/lib/beamstalk`);
    expect(unit).toContain("KillMode=process");
    // An upgrade (systemctl reload) hands over to the new binary; systemd follows the successor's MAINPID.
    expect(unit).toContain("Type=notify\nNotifyAccess=all\n");
    expect(unit).toContain(`ExecReload=${BINARY} upgrade --socket /var/lib/beamstalk/beamstalk.sock`);
    writeFileSync(join(dir, "beamstalk.service"), unit);
    const res = Bun.spawnSync([analyze!, "verify", join(dir, "beamstalk.service")]);
    expect({ code: res.exitCode, stderr: res.stderr.toString() }).toEqual({ code: 0, stderr: "" });
  });
});
