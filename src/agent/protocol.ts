/**
 * What the node agent and its client (src/runner/agent-client.ts) agree on.
 * The agent is a Docker socket behind a token: `beamstalk agent` on each Swarm
 * node, so the controller can exec, read stats and update containers that run
 * on other hosts.
 */

/** The first request head on each connection must carry it; the client sends it on every request. */
export const AGENT_TOKEN_HEADER = "X-Beamstalk-Agent-Token";

/** Not 2377/7946 (Swarm's own) nor 4789 (VXLAN). */
export const AGENT_PORT = 7070;

/** Where a Docker secret named beamstalk-agent-token is mounted. */
export const AGENT_TOKEN_FILE = "/run/secrets/beamstalk-agent-token";
