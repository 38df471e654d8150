import { basename } from "node:path";
import { isAppName } from "../lib/validate.ts";
import { parseExitLine, parseRefUpdates, PUSH_PATH, type PushRequest, type QuarantineEnv } from "./push-protocol.ts";

export interface PreReceiveHookOptions {
  /** The ref update lines git writes; defaults to the process's stdin. */
  stdin?: ReadableStream<Uint8Array> | string;
  env?: Record<string, string | undefined>;
  /** The bare repository; git runs the hook there. */
  cwd?: string;
  /** Where build output goes; git shows it to the pusher as `remote:` lines. */
  write?: (text: string) => void | Promise<void>;
}

/**
 * `beamstalk hook pre-receive`: runs inside git receive-pack, hands the push to
 * the daemon over its unix socket, relays the build output line by line, and
 * returns the exit code the daemon decided (non-zero rejects the push).
 */
export async function runPreReceiveHook(options: PreReceiveHookOptions = {}): Promise<number> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const write = options.write ?? writeStdout;
  const fail = async (message: string) => {
    await write(`beamstalk: ${message}\n`);
    return 1;
  };

  const app = basename(cwd).replace(/\.git$/, "");
  if (!isAppName(app)) return fail(`repository ${basename(cwd)} does not name an app`);
  const socket = env.BEAMSTALK_SOCKET;
  const userId = Number(env.BEAMSTALK_USER_ID);
  if (!socket || !Number.isSafeInteger(userId) || userId <= 0) {
    return fail("this push did not come through the beamstalk git server; push to the beamstalk remote");
  }
  let refs;
  try {
    refs = parseRefUpdates(await readAll(options.stdin));
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }

  const body: PushRequest = {
    app,
    userId,
    repoPath: cwd,
    refs,
    gitEnv: quarantineEnv(env),
    pushOptions: pushOptions(env),
    clean: env.BEAMSTALK_CLEAN === "1" || pushOptions(env).includes("clean"),
    hot: env.BEAMSTALK_HOT === "1" || pushOptions(env).includes("hot"),
  };

  let res: Response;
  try {
    res = await fetch(`http://localhost${PUSH_PATH}`, {
      unix: socket,
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      timeout: false,
    });
  } catch (err) {
    return fail(`the beamstalk daemon is not reachable (${err instanceof Error ? err.message : String(err)}); push rejected. Is \`beamstalk server\` running?`);
  }
  if (!res.ok || !res.body) {
    const detail = (await res.text().catch(() => "")).trim().slice(0, 500);
    return fail(`the daemon refused the push (HTTP ${res.status})${detail ? `: ${detail}` : ""}`);
  }
  return relay(res.body, write, fail);
}

/** Copies lines as they arrive; the exit line ends the build. */
async function relay(
  body: ReadableStream<Uint8Array>,
  write: (text: string) => void | Promise<void>,
  fail: (message: string) => Promise<number>,
): Promise<number> {
  const decoder = new TextDecoder();
  let pending = "";
  let exit: number | null = null;
  try {
    for await (const chunk of body) {
      pending += decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, newline + 1);
        pending = pending.slice(newline + 1);
        const code = parseExitLine(line);
        if (code !== null) exit = code;
        else await write(line);
      }
    }
  } catch (err) {
    if (exit === null) return fail(`lost the daemon mid-build (${err instanceof Error ? err.message : String(err)}); push rejected`);
  }
  pending += decoder.decode();
  if (pending !== "") {
    const code = parseExitLine(pending);
    if (code !== null) exit = code;
    else await write(pending + "\n");
  }
  if (exit === null) return fail("the daemon ended without a result; push rejected");
  return exit;
}

/** Git sets these to absolute paths (quoted when they hold a ':'); they pass through unchanged. */
function quarantineEnv(env: Record<string, string | undefined>): QuarantineEnv {
  const out: QuarantineEnv = {};
  for (const key of ["GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_QUARANTINE_PATH"] as const) {
    const value = env[key];
    if (value) out[key] = value;
  }
  return out;
}

function pushOptions(env: Record<string, string | undefined>): string[] {
  const count = Number(env.GIT_PUSH_OPTION_COUNT ?? "0");
  if (!Number.isSafeInteger(count) || count <= 0) return [];
  const out: string[] = [];
  for (let i = 0; i < Math.min(count, 100); i++) out.push(env[`GIT_PUSH_OPTION_${i}`] ?? "");
  return out;
}

async function readAll(stdin: ReadableStream<Uint8Array> | string | undefined): Promise<string> {
  if (typeof stdin === "string") return stdin;
  return new Response(stdin ?? Bun.stdin.stream()).text();
}

async function writeStdout(text: string): Promise<void> {
  await new Promise<void>((done) => process.stdout.write(text, () => done()));
}
