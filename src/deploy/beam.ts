import type { Runner } from "../runner/types.ts";
import { PROFILE_THEN_EXEC, RELEASE_NAME_FILE, RELEASE_START_FILE, type ReleaseInfo, releaseFromBin, releaseFromFiles } from "../ssh/release-command.ts";

/**
 * What only a BEAM platform asks of a replica: is its node up, and which nodes
 * is it connected to. Both go through `bin/<release> rpc` run inside the
 * replica (runner.exec), bounded in time inside (coreutils `timeout`) and out.
 */

export interface ExecOutput {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

type Exec = Pick<Runner, "exec">;

/** Runs argv in a replica (input, if any, on its stdin) and collects its output; after timeoutMs the session is dropped (timedOut). */
export async function execOutput(runner: Exec, id: string, argv: string[], timeoutMs = 30_000, input?: Uint8Array): Promise<ExecOutput> {
  const proc = await runner.exec(id, argv, { tty: false });
  if (input) proc.stdin.end(input);
  else proc.stdin.end();
  const read = async (stream: NodeJS.ReadableStream) => {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
    return Buffer.concat(chunks).toString("utf8");
  };
  let timer: Timer | undefined;
  const timeout = new Promise<null>((done) => (timer = setTimeout(() => done(null), Math.max(0, timeoutMs))));
  const result = await Promise.race([Promise.all([read(proc.stdout), read(proc.stderr), proc.exited]), timeout]).finally(() => clearTimeout(timer));
  if (result === null) {
    proc.close();
    return { code: 124, stdout: "", stderr: "", timedOut: true };
  }
  const [stdout, stderr, code] = result;
  return { code, stdout, stderr, timedOut: false };
}

/**
 * The replica's release. By default only from the builder's files (a slug
 * that is no Elixir release has none); `fromBin` also accepts the single
 * executable in /app/bin (what ssh's console and rpc fall back to).
 */
export async function findRelease(runner: Exec, id: string, options: { fromBin?: boolean; timeoutMs?: number } = {}): Promise<ReleaseInfo | null> {
  const files = await execOutput(runner, id, ["grep", "-sH", "", RELEASE_NAME_FILE, RELEASE_START_FILE], options.timeoutMs);
  const fromFiles = releaseFromFiles(files.stdout);
  if (fromFiles || !options.fromBin) return fromFiles;
  const bin = await execOutput(runner, id, ["find", "/app/bin", "-maxdepth", "1", "-type", "f", "-perm", "-u+x", "-printf", "%f\\n"], options.timeoutMs);
  return releaseFromBin(bin.stdout);
}

/** Prints the node's name, then the nodes it is connected to, sorted, on one line. */
export const NODES_EXPR = 'IO.puts(Enum.join([node() | Enum.sort(Node.list())], " "))';

/** The argv that evaluates expr on the replica's running node, killed inside after `seconds`. */
export function rpcArgv(release: ReleaseInfo, expr: string, seconds: number): string[] {
  const limit = String(Math.max(1, Math.ceil(seconds)));
  return ["/bin/bash", "-c", PROFILE_THEN_EXEC, "beamstalk", "timeout", "--kill-after=1", limit, `/app/bin/${release.name}`, "rpc", expr];
}

export interface NodeInfo {
  node: string;
  connected: string[];
}

/** Reads NODES_EXPR's output: the last non-empty line, `name peer peer…`. */
export function parseNodes(stdout: string): NodeInfo | null {
  const line = stdout.split("\n").map((l) => l.trim()).filter(Boolean).pop();
  if (!line) return null;
  const [node, ...connected] = line.split(/\s+/);
  if (!node || !node.includes("@")) return null;
  return { node, connected };
}

/** The node's name and peers, or null when it does not answer within timeoutMs. */
export async function nodeInfo(runner: Exec, id: string, release: ReleaseInfo, timeoutMs: number): Promise<NodeInfo | null> {
  const res = await execOutput(runner, id, rpcArgv(release, NODES_EXPR, timeoutMs / 1000), timeoutMs + 500).catch(() => null);
  return res && res.code === 0 ? parseNodes(res.stdout) : null;
}

/**
 * Whether a replica's node must answer an rpc to count as healthy: yes, unless
 * the app runs without distribution (RELEASE_DISTRIBUTION=none, where
 * `bin/<release> rpc` cannot work) or opts out with BEAMSTALK_HEALTH_RPC=false.
 */
export function rpcHealthCheck(config: Record<string, string>): boolean {
  return config.BEAMSTALK_HEALTH_RPC?.toLowerCase() !== "false" && config.RELEASE_DISTRIBUTION !== "none";
}

/**
 * A health probe for waitHealthy: the replica's node must answer an rpc. Apps
 * that are no Elixir release (no release name in the slug) pass: their port
 * check is all there is. Returns why not, or null.
 */
export function nodeProbe(runner: Exec, id: string): (timeoutMs: number) => Promise<string | null> {
  let release: ReleaseInfo | null | undefined;
  return async (timeoutMs) => {
    try {
      if (release === undefined) {
        const files = await execOutput(runner, id, ["grep", "-sH", "", RELEASE_NAME_FILE, RELEASE_START_FILE], timeoutMs);
        if (files.timedOut) return "reading its release name timed out";
        release = releaseFromFiles(files.stdout);
      }
      if (release === null) return null;
      const res = await execOutput(runner, id, rpcArgv(release, "IO.puts(node())", timeoutMs / 1000), timeoutMs + 500);
      if (res.timedOut || res.code === 124 || res.code === 137) return `its node did not answer an rpc within ${Math.round(timeoutMs / 1000)} s`;
      if (res.code !== 0) return `its node did not answer an rpc (${lastLine(res.stderr || res.stdout) || `exit ${res.code}`})`;
      return null;
    } catch (err) {
      return `rpc: ${(err as Error).message}`;
    }
  };
}

function lastLine(text: string): string {
  return text.split("\n").map((l) => l.trim()).filter(Boolean).pop()?.slice(0, 200) ?? "";
}
