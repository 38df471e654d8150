import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AGENT_TOKEN_HEADER } from "../../agent/protocol.ts";
import type Docker from "dockerode";
import { BeamstalkError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/logger.ts";
import type { Secret } from "../../lib/secret.ts";
import { LABEL } from "../docker/spec.ts";
import type { NodeEngines } from "./runner.ts";
import type { SwarmTask } from "./tasks.ts";

/**
 * The manager's API places, lists and removes tasks on every host, but it
 * cannot exec into, read stats of, or update a container on another host.
 * So every host runs a Beamstalk agent (a global service): it forwards
 * authenticated connections to its host's Docker socket. Agents sit on an
 * overlay of their own that only they and the gateway join; the controller
 * reaches them through the gateway like any replica, and no port is published.
 */

export const AGENT_SERVICE = "beamstalk-agent";
export const AGENT_NETWORK = "beamstalk-agents";
export const AGENT_SECRET = "beamstalk-agent-token";
export const AGENT_PORT = 7070;
const TOKEN_PATH = `/run/secrets/${AGENT_SECRET}`;

/**
 * Fetches this very binary from the controller and runs it as the agent. A
 * fixed script: the URL comes from the environment, never into the text.
 */
export const AGENT_BOOT = [
  "set -euo pipefail",
  'curl -fsS --retry 10 --retry-delay 1 --retry-connrefused --max-time 300 --proto =http,https -o /tmp/beamstalk "$BEAMSTALK_AGENT_BINARY_URL"',
  "chmod 0755 /tmp/beamstalk",
  `exec /tmp/beamstalk agent --listen 0.0.0.0:${AGENT_PORT} --token-file ${TOKEN_PATH} --docker-socket /var/run/docker.sock`,
].join("\n");

export function agentServiceSpec(o: { image: string; binaryUrl: string; secretId: string; labels?: Record<string, string> }): Docker.CreateServiceOptions {
  const labels = { ...o.labels, [LABEL.managed]: "true", "beamstalk.role": "agent" };
  return {
    Name: AGENT_SERVICE,
    Labels: labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: o.image,
        Command: ["/bin/bash", "-c", AGENT_BOOT],
        Env: [`BEAMSTALK_AGENT_BINARY_URL=${o.binaryUrl}`],
        Labels: labels,
        Init: true,
        Mounts: [{ Type: "bind", Source: "/var/run/docker.sock", Target: "/var/run/docker.sock" }],
        Secrets: [{ SecretID: o.secretId, SecretName: AGENT_SECRET, File: { Name: AGENT_SECRET, UID: "0", GID: "0", Mode: 0o400 } }],
      },
      Resources: { Limits: { MemoryBytes: 256 * 1024 ** 2 } },
      RestartPolicy: { Condition: "any", Delay: 2e9, MaxAttempts: 0 },
      Networks: [{ Target: AGENT_NETWORK }],
    },
    Mode: { Global: {} },
    EndpointSpec: { Mode: "dnsrr" },
  };
}

export type AgentClient = (address: { host: string; port: number; token: Secret }) => Docker;

/** The agents' engines by Swarm node id, found through the agent service's tasks. */
export class Agents implements NodeEngines {
  readonly #docker: Docker;
  readonly #client: AgentClient;
  readonly #token: Secret;
  readonly #logger: Logger;
  readonly #byAddress = new Map<string, Docker>();

  constructor(o: { docker: Docker; client: AgentClient; token: Secret; logger: Logger }) {
    this.#docker = o.docker;
    this.#client = o.client;
    this.#token = o.token;
    this.#logger = o.logger;
  }

  /** The overlay address of the agent on that node. */
  async addressOf(nodeId: string): Promise<string> {
    const tasks = (await this.#docker.listTasks({ filters: { service: [AGENT_SERVICE], node: [nodeId], "desired-state": ["running"] } })) as SwarmTask[];
    const task = tasks.find((t) => t.Status.State === "running");
    const host = task?.NetworksAttachments?.find((a) => a.Network.Spec?.Name === AGENT_NETWORK)?.Addresses?.[0]?.split("/")[0];
    if (!host) throw new BeamstalkError("unreachable", `the Beamstalk agent on Swarm node ${nodeId.slice(0, 12)} is not running`, "beamstalk nodes shows the hosts; the agent starts on a host once it joined");
    return host;
  }

  /**
   * The environment that points the docker CLI at that node's engine through
   * its agent: DOCKER_HOST, and DOCKER_CONFIG naming `configDir`, whose
   * config.json (0600) carries the token as a header on every request.
   */
  async cliEnv(nodeId: string, configDir: string): Promise<Record<string, string>> {
    const host = await this.addressOf(nodeId);
    const file = join(configDir, "config.json");
    const config = JSON.stringify({ HttpHeaders: { [AGENT_TOKEN_HEADER]: this.#token.reveal() } });
    if (!existsSync(file) || readFileSync(file, "utf8") !== config) {
      mkdirSync(configDir, { recursive: true, mode: 0o700 });
      writeFileSync(file, config, { mode: 0o600 });
    }
    return { DOCKER_HOST: `tcp://${host}:${AGENT_PORT}`, DOCKER_CONFIG: configDir };
  }

  async forNode(nodeId: string): Promise<Docker> {
    const host = await this.addressOf(nodeId);
    let engine = this.#byAddress.get(host);
    if (!engine) {
      engine = this.#client({ host, port: AGENT_PORT, token: this.#token });
      this.#byAddress.set(host, engine);
      this.#logger.info("runner.agent.found", { node: nodeId.slice(0, 12), address: host });
    }
    return engine;
  }

  /** The agents' overlay, the token as a Swarm secret, and the global service (idempotent). */
  async ensure(o: { image: string; binaryUrl: string; labels?: Record<string, string>; attach: (network: string) => Promise<void> }): Promise<void> {
    const labels = { ...o.labels, [LABEL.managed]: "true", "beamstalk.role": "agent" };
    const network = await this.#docker.getNetwork(AGENT_NETWORK).inspect().catch(() => null);
    if (!network) await this.#docker.createNetwork({ Name: AGENT_NETWORK, Driver: "overlay", Attachable: true, CheckDuplicate: true, Labels: labels });
    await o.attach(AGENT_NETWORK);
    // The secret carries a digest of the token, so a controller with another token (a new data directory) replaces it.
    const digest = createHash("sha256").update(this.#token.reveal()).digest("hex").slice(0, 16);
    const secrets = (await this.#docker.listSecrets({ filters: { name: [AGENT_SECRET] } })) as { ID: string; Spec?: { Name?: string; Labels?: Record<string, string> } }[];
    const secret = secrets.find((s) => s.Spec?.Name === AGENT_SECRET);
    let secretId = secret?.ID;
    const existing = await this.#docker.getService(AGENT_SERVICE).inspect().catch(() => null);
    if (secretId && existing && secret?.Spec?.Labels?.["beamstalk.token-digest"] === digest) return;
    if (existing) await this.#docker.getService(AGENT_SERVICE).remove();
    if (secretId) await this.#docker.getSecret(secretId).remove().catch(() => {});
    // Secret values reach the engine base64-encoded in the create body, and nothing else.
    const created = (await this.#docker.createSecret({ Name: AGENT_SECRET, Labels: { ...labels, "beamstalk.token-digest": digest }, Data: Buffer.from(this.#token.reveal()).toString("base64") } as never)) as unknown as { id: string };
    secretId = created.id;
    await this.#docker.createService(agentServiceSpec({ image: o.image, binaryUrl: o.binaryUrl, secretId, ...(o.labels ? { labels: o.labels } : {}) }));
    this.#logger.info("runner.agent.deployed", { service: AGENT_SERVICE });
  }
}
