import { Hono } from "hono";
import { DEFAULT_JOB_TIMEOUT_SECONDS, MAX_JOB_TIMEOUT_SECONDS, checkArgv, releaseCallArgv } from "../deploy/jobs.ts";
import { elixirCall } from "../lib/elixir-call.ts";
import { BeamstalkError, badRequest } from "../lib/errors.ts";
import { EXIT_NOT_RUN, EXIT_TIMED_OUT, jobTrailer } from "../lib/job-stream.ts";
import { requireUser } from "./auth.ts";
import { type ApiDeps, type Env, type JobActions, appFor, readJson } from "./context.ts";

const MAX_SIZE = 64;

/**
 * One-off jobs, mounted at /api/apps/:app/run. `POST {argv, timeout?, size?}` (or
 * `{module, function, …}`: GIGALIXIR's call of MODULE.FUNCTION through the release)
 * answers text/plain: the job's output as it runs, then the trailer of
 * src/lib/job-stream.ts (`beamstalk:exit=<n>`). A client that goes away kills
 * the job. The activity log gets the command's first word, never its arguments.
 */
export function runRoutes(deps: ApiDeps) {
  const r = new Hono<Env>();
  r.use(requireUser(deps));

  r.post("/", async (c) => {
    const { app } = appFor(deps, c.var.user, c.req.param("app")!, "write");
    const jobs = jobsOf(deps);
    const body = await readJson(c);
    const { argv, command } = jobCommand(body);
    const timeout = parseTimeout(body.timeout);
    const size = parseSize(body.size);
    const spec = await jobs.prepare(app, { argv, size });
    deps.state.activity.record(app.id, c.var.user.id, "run", `Ran ${command} on v${spec.release}`);
    deps.logger.info("job.run", { app: app.name, user: c.var.user.email, command, release: spec.release, timeout_s: timeout, size });

    const abort = new AbortController();
    c.req.raw.signal?.addEventListener("abort", () => abort.abort(), { once: true });
    const encoder = new TextEncoder();
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        const send = (bytes: Uint8Array) => {
          if (abort.signal.aborted) return;
          try {
            controller.enqueue(bytes);
          } catch {
            abort.abort(); // the response is gone
          }
        };
        void (async () => {
          let trailer: string;
          try {
            const result = await jobs.run(spec, { timeoutMs: timeout * 1000, signal: abort.signal, onOutput: (chunk) => send(chunk) });
            trailer = result.timedOut
              ? jobTrailer(EXIT_TIMED_OUT, `killed after ${timeout} s (the time limit; --timeout SECONDS allows up to ${MAX_JOB_TIMEOUT_SECONDS})`)
              : jobTrailer(result.exitCode);
            deps.logger.info("job.done", { app: app.name, command, exit: result.exitCode, timed_out: result.timedOut, client_gone: abort.signal.aborted });
          } catch (err) {
            deps.logger.error("job.failed", { app: app.name, command, error: (err as Error).message });
            const why = err instanceof BeamstalkError && err.code !== "internal" ? err.message : "the job could not be run; the server log has details";
            trailer = jobTrailer(EXIT_NOT_RUN, why);
          }
          send(encoder.encode(trailer));
          try {
            controller.close();
          } catch {
            // cancelled: nobody is reading
          }
        })();
      },
      cancel() {
        abort.abort();
      },
    });
    return new Response(stream, {
      headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", "x-content-type-options": "nosniff" },
    });
  });

  return r;
}

function jobsOf(deps: ApiDeps): JobActions {
  if (!deps.jobs) throw new BeamstalkError("unreachable", "one-off jobs are not available on this server");
  return deps.jobs;
}

function parseTimeout(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_JOB_TIMEOUT_SECONDS;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1 || value > MAX_JOB_TIMEOUT_SECONDS) {
    throw badRequest(`timeout must be whole seconds from 1 to ${MAX_JOB_TIMEOUT_SECONDS} (24 h)`);
  }
  return value;
}

function parseSize(value: unknown): number {
  if (value === undefined || value === null) return 1;
  if (typeof value !== "number" || !(value > 0 && value <= MAX_SIZE)) {
    throw badRequest(`size must be a number above 0, up to ${MAX_SIZE}`, "1 size = 1 GiB of memory and 0.2 CPU");
  }
  return value;
}

/** `{argv}`, or GIGALIXIR's `{module, function}` (a call through the release); the name the logs give it. */
function jobCommand(body: Record<string, unknown>): { argv: string[]; command: string } {
  if (body.module === undefined && body.function === undefined) {
    const argv = checkArgv(body.argv);
    return { argv, command: commandName(argv) };
  }
  if (body.argv !== undefined) throw badRequest("give argv, or module and function, not both");
  const expr = elixirCall(body.module, body.function);
  return { argv: releaseCallArgv(expr), command: `${expr.slice(0, -2)}/0` };
}

/** The first word only (arguments may hold secrets), printable and short. */
export function commandName(argv: string[]): string {
  const first = argv[0]!.trim().split(/\s/, 1)[0]!;
  return first.replace(/[^\x21-\x7e]/g, "?").slice(0, 60) || "?";
}
