import { Hono } from "hono";
import { notFound } from "../lib/errors.ts";
import type { ApiDeps, Env } from "./context.ts";

/**
 * This very executable, at /internal/agent/beamstalk, for the Beamstalk agent
 * that each Swarm host runs (runner/swarm/agents.ts): a host that joined has
 * Docker and the run image, not Beamstalk. Over TCP, like slugs; the binary
 * holds no secret (the agent's token reaches it as a Swarm secret).
 */
export function agentBinaryRoutes(deps: ApiDeps) {
  const r = new Hono<Env>();
  r.get("/beamstalk", async () => {
    const path = deps.agentBinary?.();
    const file = path ? Bun.file(path) : null;
    if (!file || !(await file.exists())) throw notFound("this server has no agent binary to give", "run the compiled beamstalk binary as the server");
    return new Response(file, { headers: { "content-type": "application/octet-stream", "content-length": String(file.size) } });
  });
  return r;
}
