import { BeamstalkError } from "../lib/errors.ts";
import type { Cli } from "./context.ts";
import { VERSION } from "../version.ts";
import { command } from "./define.ts";
import { info, printRecord } from "./output.ts";

interface HealthJson {
  version: string;
}

export const version = command({
  name: "version",
  description: "Show this CLI's version and the server's",
  data: true,
  args: { socket: { type: "string", description: "ask the daemon over its unix socket (on the server itself)" } },
  async run(args, cli) {
    // With no server named anywhere, the CLI's own version still answers; an unreachable server is an error.
    let client: ReturnType<Cli["anonymous"]> | null = null;
    try {
      client = cli.anonymous(args.socket);
    } catch (err) {
      if (!(err instanceof BeamstalkError) || err.code !== "usage") throw err;
    }
    const both = { client: VERSION, server: client ? (await client.get<HealthJson>("/api/health")).version : null };
    cli.print(both, () => printRecord({ ...both, server: both.server ?? "none given (--url or BEAMSTALK_URL)" }));
  },
});

export const upgrade = command({
  name: "upgrade",
  description: "Hand the server over to a new binary with no dropped request or WebSocket (admins; --binary and --socket on the server itself, as root)",
  data: true,
  args: {
    binary: { type: "string", description: "the new binary (default: the installed one, as install.sh replaced it); needs --socket" },
    "drain-seconds": { type: "string", description: "how long the old daemon lets open connections run on before it cuts them (default 600)" },
    socket: { type: "string", description: "talk to the daemon over its unix socket, as root on the server (no login needed)" },
  },
  async run(args, cli) {
    const body = { ...(args.binary ? { binary: args.binary } : {}), ...(args["drain-seconds"] ? { drain_seconds: Number(args["drain-seconds"]) } : {}) };
    const client = args.socket ? cli.anonymous(args.socket) : cli.client();
    const done = await client.post<{ from: string; to: string; pid: number; drain_seconds: number }>("/api/server/upgrade", body);
    cli.print(done, () => info(`Upgraded the server from ${done.from} to ${done.to} (pid ${done.pid}); the old daemon lets open connections finish (up to ${done.drain_seconds} s).`));
  },
});
