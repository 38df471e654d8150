import { defineCommand } from "citty";
import { BeamstalkError } from "../lib/errors.ts";
import { createLogger } from "../lib/logger.ts";
import { AGENT_PORT, AGENT_TOKEN_FILE } from "./protocol.ts";
import { startAgent } from "./server.ts";
import { readTokenFile } from "./token-file.ts";

/**
 * `beamstalk agent`: runs on every Swarm node (a global service) so the
 * controller can reach that node's Docker engine. The token comes from a
 * file only: argv and the environment show up in `ps` and `docker inspect`.
 */
const ARGS = {
  listen: { type: "string", description: "HOST:PORT to listen on", default: `0.0.0.0:${AGENT_PORT}` },
  "token-file": { type: "string", description: "file holding the token (a Docker secret)", default: AGENT_TOKEN_FILE },
  "docker-socket": { type: "string", description: "the local engine's socket", default: "/var/run/docker.sock" },
} as const;

export const agentCommand = defineCommand({
  meta: { name: "agent", description: "Serve this node's Docker socket to the Beamstalk controller, behind a token (runs as a Swarm global service)" },
  args: ARGS,
  async run({ args }) {
    checkNoOtherArgs(args);
    const { hostname, port } = parseListen(args.listen);
    const token = readTokenFile(args["token-file"]);
    const logger = createLogger();
    const agent = startAgent({ hostname, port, token, dockerSocket: args["docker-socket"], logger });
    await new Promise<void>((resolve) => {
      const shutdown = (signal: string) => {
        logger.info("agent.shutdown", { signal });
        agent.stop();
        resolve();
      };
      process.once("SIGTERM", () => shutdown("SIGTERM"));
      process.once("SIGINT", () => shutdown("SIGINT"));
    });
  },
});

/** `HOST:PORT`, `[IPv6]:PORT`; port 0 picks a free one (tests). */
export function parseListen(text: string): { hostname: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s\[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new BeamstalkError("usage", `--listen must be HOST:PORT, e.g. 0.0.0.0:${AGENT_PORT}, not ${JSON.stringify(text)}`);
  return { hostname: m[1] ?? m[2]!, port };
}

// citty accepts any flag: a mistyped `--token SECRET` would be ignored while the secret sat in argv.
function checkNoOtherArgs(args: Record<string, unknown> & { _: string[] }): void {
  const known = new Set(["_", ...Object.keys(ARGS), "tokenFile", "dockerSocket"]);
  // Values are never echoed: one of them may be the token.
  const other = [...Object.keys(args).filter((key) => !known.has(key)).map((key) => `--${key}`), ...(args._.length > 0 ? [`${args._.length} positional argument(s)`] : [])];
  if (other.length > 0) throw new BeamstalkError("usage", `beamstalk agent takes --listen, --token-file and --docker-socket only, not ${other.join(", ")}`, "the token is read from --token-file, never from argv");
}
