import Docker from "dockerode";
import { AGENT_TOKEN_HEADER } from "../agent/protocol.ts";
import type { Secret } from "../lib/secret.ts";

export interface AgentAddress {
  /** The agent's address as the controller reaches it (its overlay IP through the gateway). */
  host: string;
  port: number;
  token: Secret;
}

/**
 * A dockerode client for one node's engine, through its `beamstalk agent`.
 * Every dockerode call goes through modem.dial, so the token is added there,
 * to each request's own headers, and revealed only then. docker-modem's
 * `headers` option would not do: it keeps the token in plain sight on the
 * modem, and a dial that brings its own headers (dockerode's BuildKit session)
 * replaces those headers instead of adding to them.
 */
export function agentDocker(address: AgentAddress): Docker {
  const docker = new Docker({ host: address.host, port: address.port, protocol: "http" });
  const modem = docker.modem;
  const dial = modem.dial.bind(modem);
  // A fresh object per request: docker-modem writes Content-Type and the like into the one it is given.
  modem.dial = (options, callback) => dial({ ...options, headers: { ...options.headers, [AGENT_TOKEN_HEADER]: address.token.reveal() } }, callback);
  return docker;
}
