import { elixirCall, looksLikeModule } from "../lib/elixir-call.ts";
import { BeamstalkError } from "../lib/errors.ts";
import { checkAppName } from "../lib/validate.ts";
import { type JobEnd, JobStreamReader } from "../lib/job-stream.ts";
import { type Cli, enc } from "./context.ts";
import { command } from "./define.ts";

const MAX_TIMEOUT_SECONDS = 24 * 60 * 60;

export const run = command({
  name: "run",
  description:
    "Run a one-off command in a new container of the app's current release, with its config; prints its output as it runs and exits with its exit code (124: killed at the time limit). GIGALIXIR's `run [APP] MODULE FUNCTION` calls Elixir.MODULE.FUNCTION() through the release (bin/<release> eval)",
  variadic: "-- CMD ARGS… | MODULE FUNCTION",
  app: true,
  args: {
    timeout: { type: "string", description: "seconds before the job is killed (default 300, at most 86400)" },
    size: { type: "string", description: "memory and CPU: 1 = 1 GiB and 0.2 CPU (default 1)" },
  },
  async run(args, cli, rawArgs) {
    const words = args._.map(String);
    if (words.length === 0) throw new BeamstalkError("usage", "no command given", "put it after --: beamstalk run -- bin/myapp eval 'IO.puts(1)'");
    const timeout = parseTimeout(args.timeout);
    const size = parseSize(args.size);
    const options = { ...(timeout ? { timeout } : {}), ...(size ? { size } : {}) };
    const call = rawArgs.includes("--") ? null : moduleCall(words, args.app as string | undefined);
    if (call) return runOneOff(cli, call.app ?? (await cli.app()), { module: call.module, function: call.function }, options);
    await runOneOff(cli, await cli.app(), { argv: words }, options);
  },
});

/**
 * GIGALIXIR's `run [APP] MODULE FUNCTION` (no `--`, the module capitalised); null for a command.
 * The names are checked here and again by the server.
 */
export function moduleCall(words: string[], appFlag: string | undefined): { app?: string; module: string; function: string } | null {
  const appFirst = words.length === 3 && !looksLikeModule(words[0]!) && looksLikeModule(words[1]!);
  if (!appFirst && !(words.length === 2 && looksLikeModule(words[0]!))) return null;
  const [module, fn] = appFirst ? words.slice(1) : words;
  try {
    elixirCall(module, fn);
  } catch (err) {
    throw new BeamstalkError("usage", (err as Error).message, "beamstalk run MODULE FUNCTION calls a function of no arguments; a command goes after --");
  }
  if (!appFirst) return { module: module!, function: fn! };
  const app = checkAppName(words[0]);
  if (appFlag !== undefined && appFlag !== app) throw new BeamstalkError("usage", `two apps given: ${JSON.stringify(app)} and -a ${JSON.stringify(appFlag)}`, "give the app once, as the first argument or with -a");
  return { app, module: module!, function: fn! };
}

/** Runs a job of the app (argv, or a module and function), printing its output; exits with the job's code when it is not 0. */
export async function runOneOff(cli: Cli, app: string, job: { argv: string[] } | { module: string; function: string }, options: { timeout?: number; size?: number } = {}): Promise<void> {
  const end = await runJob(cli, `/api/apps/${enc(app)}/run`, { ...job, ...options });
  if (end.error) await write(new TextEncoder().encode(`error: ${end.error}\n`), process.stderr);
  if (end.exitCode !== 0) process.exit(end.exitCode);
}

export function parseTimeout(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > MAX_TIMEOUT_SECONDS) {
    throw new BeamstalkError("usage", `--timeout must be whole seconds from 1 to ${MAX_TIMEOUT_SECONDS} (24 h)`);
  }
  return seconds;
}

export function parseSize(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const size = Number(raw);
  if (!(size > 0 && size <= 64)) throw new BeamstalkError("usage", "--size must be a number above 0, up to 64", "1 size = 1 GiB of memory and 0.2 CPU");
  return size;
}

/**
 * POSTs the job and copies its output to stdout as it arrives (bytes as sent,
 * written before the next read). Ctrl-C ends this process, the connection with
 * it, and the server kills the job.
 */
async function runJob(cli: Cli, path: string, body: unknown): Promise<JobEnd> {
  const res = await cli.client().open("POST", path, { body, accept: "text/plain" });
  const reader = new JobStreamReader();
  try {
    for await (const chunk of res.body ?? []) await write(reader.push(chunk));
  } catch {
    // the connection broke: what arrived is printed below, and the missing end reported
  }
  const { rest, end } = reader.end();
  await write(rest);
  if (!end) throw new BeamstalkError("unreachable", "the connection to the server ended before the job did", "the job was killed with it; run it again");
  return end;
}

/** Resolves once the bytes are handed to the file descriptor (so exiting right after loses nothing). */
function write(bytes: Uint8Array, to: NodeJS.WriteStream = process.stdout): Promise<void> {
  if (bytes.length === 0) return Promise.resolve();
  return new Promise((resolve, reject) => to.write(bytes, (err) => (err ? reject(err) : resolve())));
}
