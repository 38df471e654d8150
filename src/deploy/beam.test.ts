import { expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import type { ExecOptions, ExecSession } from "../runner/types.ts";
import { PROFILE_THEN_EXEC } from "../ssh/release-command.ts";
import { NODES_EXPR, execOutput, findRelease, nodeInfo, nodeProbe, parseNodes, rpcArgv, rpcHealthCheck } from "./beam.ts";

/** A runner whose exec answers each argv with the reply `answer` picks (or never, for a hang). */
function fakeRunner(answer: (argv: string[]) => { code: number; stdout?: string; stderr?: string } | "hang") {
  const calls: string[][] = [];
  let closed = 0;
  return {
    calls,
    closed: () => closed,
    runner: {
      async exec(_id: string, argv: string[], _options: ExecOptions): Promise<ExecSession> {
        calls.push(argv);
        const stdout = new PassThrough();
        const stderr = new PassThrough();
        const reply = answer(argv);
        let exited: Promise<number>;
        if (reply === "hang") exited = new Promise(() => {});
        else {
          stdout.end(reply.stdout ?? "");
          stderr.end(reply.stderr ?? "");
          exited = Promise.resolve(reply.code);
        }
        return { stdin: new PassThrough(), stdout, stderr, resize: async () => {}, close: () => void closed++, exited };
      },
    },
  };
}

const releaseFiles = (argv: string[]) => argv[0] === "grep";
const NAME_FILE_OUT = { code: 0, stdout: "/app/.beamstalk/release-name:hello\n/app/.beamstalk/release-start:start\n" };

test("rpcArgv: bin/<release> rpc inside the replica's profile, with the node name the boot script wrote, killed inside after the bound", () => {
  expect(rpcArgv({ name: "hello", distillery: false }, "IO.puts(node())", 4.2)).toEqual([
    "/bin/bash", "-c", PROFILE_THEN_EXEC, "beamstalk", "timeout", "--kill-after=1", "5", "/app/bin/hello", "rpc", "IO.puts(node())",
  ]);
  expect(PROFILE_THEN_EXEC).toContain(". /var/lib/beamstalk/node.env");
  expect(rpcArgv({ name: "hello", distillery: false }, "x", 0.1)[6]).toBe("1");
});

test("parseNodes reads `node peer peer…` from the last line", () => {
  expect(parseNodes("shop@172.18.0.2 shop@172.18.0.3 shop@172.18.0.4\n")).toEqual({ node: "shop@172.18.0.2", connected: ["shop@172.18.0.3", "shop@172.18.0.4"] });
  expect(parseNodes("warning: something\nshop@172.18.0.2\n")).toEqual({ node: "shop@172.18.0.2", connected: [] });
  expect(parseNodes("")).toBeNull();
  expect(parseNodes("nonsense\n")).toBeNull();
  expect(NODES_EXPR).toContain("Node.list()");
});

test("nodeInfo asks the node over rpc; no answer is null", async () => {
  const ok = fakeRunner(() => ({ code: 0, stdout: "a@10.0.0.2 a@10.0.0.3\n" }));
  expect(await nodeInfo(ok.runner, "id", { name: "hello", distillery: false }, 2000)).toEqual({ node: "a@10.0.0.2", connected: ["a@10.0.0.3"] });
  expect(ok.calls[0]!.slice(-3)).toEqual(["/app/bin/hello", "rpc", NODES_EXPR]);
  const down = fakeRunner(() => ({ code: 1, stderr: "--rpc-eval : RPC failed with reason :nodedown\n" }));
  expect(await nodeInfo(down.runner, "id", { name: "hello", distillery: false }, 2000)).toBeNull();
});

test("execOutput drops a session that runs past its bound", async () => {
  const hang = fakeRunner(() => "hang");
  const began = Date.now();
  expect(await execOutput(hang.runner, "id", ["sleep", "100"], 200)).toEqual({ code: 124, stdout: "", stderr: "", timedOut: true });
  expect(Date.now() - began).toBeLessThan(1000);
  expect(hang.closed()).toBe(1);
});

test("findRelease: the builder's files; the single executable in /app/bin only when asked", async () => {
  const noFiles = fakeRunner((argv) => (releaseFiles(argv) ? { code: 2 } : { code: 0, stdout: "myapp\n" }));
  expect(await findRelease(noFiles.runner, "id")).toBeNull();
  expect(await findRelease(noFiles.runner, "id", { fromBin: true })).toEqual({ name: "myapp", distillery: false });
  expect(await findRelease(fakeRunner(() => NAME_FILE_OUT).runner, "id")).toEqual({ name: "hello", distillery: false });
});

test("nodeProbe: a release's node must answer an rpc; an app with no release passes on its port alone", async () => {
  let up = false;
  const release = fakeRunner((argv) => (releaseFiles(argv) ? NAME_FILE_OUT : up ? { code: 0, stdout: "hello@10.0.0.2\n" } : { code: 1, stderr: "--rpc-eval : RPC failed with reason :nodedown\n" }));
  const probe = nodeProbe(release.runner, "id");
  expect(await probe(5000)).toBe("its node did not answer an rpc (--rpc-eval : RPC failed with reason :nodedown)");
  up = true;
  expect(await probe(5000)).toBeNull();
  expect(release.calls.filter(releaseFiles)).toHaveLength(1); // the release name is read once

  const plain = fakeRunner((argv) => (releaseFiles(argv) ? { code: 2 } : { code: 0, stdout: "node\n" }));
  expect(await nodeProbe(plain.runner, "id")(5000)).toBeNull();
  expect(plain.calls).toHaveLength(1); // no rpc, no look into /app/bin

  const killed = fakeRunner((argv) => (releaseFiles(argv) ? NAME_FILE_OUT : { code: 124 }));
  expect(await nodeProbe(killed.runner, "id")(3000)).toBe("its node did not answer an rpc within 3 s");
});

test("rpcHealthCheck: on by default; off for RELEASE_DISTRIBUTION=none (rpc cannot work) and BEAMSTALK_HEALTH_RPC=false", () => {
  expect(rpcHealthCheck({})).toBe(true);
  expect(rpcHealthCheck({ RELEASE_DISTRIBUTION: "name" })).toBe(true);
  expect(rpcHealthCheck({ RELEASE_DISTRIBUTION: "none" })).toBe(false);
  expect(rpcHealthCheck({ BEAMSTALK_HEALTH_RPC: "false" })).toBe(false);
  expect(rpcHealthCheck({ BEAMSTALK_HEALTH_RPC: "FALSE" })).toBe(false);
  expect(rpcHealthCheck({ BEAMSTALK_HEALTH_RPC: "true" })).toBe(true);
});
