import type Docker from "dockerode";
import { BeamstalkError } from "../../lib/errors.ts";
import { exec } from "../../lib/exec.ts";
import type { Logger } from "../../lib/logger.ts";
import { LABEL } from "../docker/spec.ts";

/**
 * How the controller reaches replicas on other hosts without publishing a
 * port. The host cannot route into an overlay network; a container can join
 * one. So one plain container on the controller host, the gateway, sits on a
 * local bridge and on every app's (attachable) overlay, forwards IP packets
 * between them, and masquerades what the host sends so the replies come back
 * through it. The host routes each overlay's subnet via the gateway's bridge
 * address. The router, health checks and tunnels then dial a replica's own
 * overlay address on any host, as they dial a bridge address on one host.
 * The kernel forwards: no proxy process sits on the data path.
 */

export const GATEWAY_NAME = "beamstalk-gateway";
export const GATEWAY_NETWORK = "beamstalk-gateway";

/** Side effects as data: the commands the host runs for the gateway (asserted by spec.test.ts). */
export function masqueradeArgv(pid: number, sourceSubnet: string, check: boolean): string[] {
  return inGateway(pid, ["-t", "nat", check ? "-C" : "-A", "POSTROUTING", "-s", sourceSubnet, "-j", "MASQUERADE"]);
}

/**
 * The gateway sits on every app's overlay, so it must forward nothing between
 * them: only what the host sends (from the bridge's subnet) and the replies.
 * Without this, a packet from one app's replica could cross into another's.
 */
export function forwardPolicyArgvs(pid: number, sourceSubnet: string): string[][] {
  return [
    inGateway(pid, ["-P", "FORWARD", "DROP"]),
    inGateway(pid, ["-A", "FORWARD", "-s", sourceSubnet, "-j", "ACCEPT"]),
    inGateway(pid, ["-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]),
  ];
}

function inGateway(pid: number, rule: string[]): string[] {
  return ["nsenter", "-t", String(pid), "-n", "--", "iptables", "-w", ...rule];
}

export function routeArgv(subnet: string, via: string): string[] {
  return ["ip", "route", "replace", subnet, "via", via];
}

export function routeDeleteArgv(subnet: string): string[] {
  return ["ip", "route", "del", subnet];
}

export function gatewayContainerSpec(image: string, labels: Record<string, string>): Docker.ContainerCreateOptions {
  return {
    name: GATEWAY_NAME,
    Image: image,
    Entrypoint: ["sleep", "infinity"],
    Cmd: [],
    Labels: { ...labels, [LABEL.managed]: "true", "beamstalk.role": "gateway" },
    HostConfig: {
      NetworkMode: GATEWAY_NETWORK,
      Init: true,
      RestartPolicy: { Name: "unless-stopped", MaximumRetryCount: 0 },
      Sysctls: { "net.ipv4.ip_forward": "1" },
      Memory: 64 * 1024 ** 2,
      SecurityOpt: ["no-new-privileges:true"],
    },
  };
}

interface GatewayState {
  pid: number;
  /** The gateway's address on its bridge: the next hop for every overlay. */
  address: string;
  /** The bridge's subnet: what the host's packets come from, masqueraded into the overlays. */
  bridgeSubnet: string;
}

export class Gateway {
  readonly #docker: Docker;
  readonly #logger: Logger;
  readonly #image: () => Promise<string>;
  readonly #labels: Record<string, string>;
  #state: GatewayState | null = null;
  #ensuring: Promise<GatewayState> | null = null;

  constructor(options: { docker: Docker; logger: Logger; image: () => Promise<string>; labels?: Record<string, string> }) {
    this.#docker = options.docker;
    this.#logger = options.logger;
    this.#image = options.image;
    this.#labels = options.labels ?? {};
  }

  /** Joins an overlay and routes its subnet through the gateway (idempotent). */
  async attach(networkName: string): Promise<void> {
    const gw = await this.ensure();
    const network = this.#docker.getNetwork(networkName);
    const info = (await network.inspect()) as Docker.NetworkInspectInfo;
    if (!info.Containers || !Object.values(info.Containers).some((c) => c.Name === GATEWAY_NAME)) {
      await network.connect({ Container: GATEWAY_NAME }).catch((err) => {
        if (!/already exists|already attached/i.test(String((err as Error).message))) throw err;
      });
    }
    const subnet = (await this.#subnetOf(networkName)) ?? "";
    if (!subnet) throw new BeamstalkError("internal", `network ${networkName} has no subnet to route`);
    await run(routeArgv(subnet, gw.address), `routing ${subnet} through the gateway`);
  }

  /** Leaves an overlay and drops its route. */
  async detach(networkName: string): Promise<void> {
    const subnet = await this.#subnetOf(networkName).catch(() => null);
    if (subnet) await exec(routeDeleteArgv(subnet));
    await this.#docker.getNetwork(networkName).disconnect({ Container: GATEWAY_NAME, Force: true }).catch(() => {});
  }

  /** The gateway container running, forwarding and masquerading; re-done when it was restarted (a new network namespace). */
  async ensure(): Promise<GatewayState> {
    this.#ensuring ??= this.#ensure().finally(() => (this.#ensuring = null));
    return this.#ensuring;
  }

  async #ensure(): Promise<GatewayState> {
    await this.#ensureBridge();
    let info = await this.#docker.getContainer(GATEWAY_NAME).inspect().catch(() => null);
    if (!info) {
      await this.#docker.createContainer(gatewayContainerSpec(await this.#image(), this.#labels));
      info = await this.#docker.getContainer(GATEWAY_NAME).inspect();
    }
    if (!info.State.Running) {
      await this.#docker.getContainer(GATEWAY_NAME).start();
      info = await this.#docker.getContainer(GATEWAY_NAME).inspect();
    }
    const bridge = info.NetworkSettings.Networks[GATEWAY_NETWORK];
    const bridgeSubnet = (await this.#subnetOf(GATEWAY_NETWORK)) ?? "";
    const state = { pid: info.State.Pid, address: bridge?.IPAddress ?? "", bridgeSubnet };
    if (!state.address || !state.bridgeSubnet) throw new BeamstalkError("internal", "the gateway container has no address on its bridge");
    if (this.#state?.pid !== state.pid) {
      if ((await exec(masqueradeArgv(state.pid, bridgeSubnet, true))).code !== 0) {
        for (const argv of forwardPolicyArgvs(state.pid, bridgeSubnet)) await run(argv, "closing the gateway to all but the host");
        await run(masqueradeArgv(state.pid, bridgeSubnet, false), "masquerading in the gateway");
      }
      this.#logger.info("runner.gateway.ready", { address: state.address, pid: state.pid });
    }
    this.#state = state;
    return state;
  }

  async #ensureBridge(): Promise<void> {
    const existing = await this.#docker.getNetwork(GATEWAY_NETWORK).inspect().catch(() => null);
    if (existing) return;
    await this.#docker
      .createNetwork({ Name: GATEWAY_NETWORK, Driver: "bridge", CheckDuplicate: true, Labels: { ...this.#labels, [LABEL.managed]: "true", "beamstalk.role": "gateway" } })
      .catch((err) => {
        if (!/already exists/i.test(String((err as Error).message))) throw err;
      });
  }

  async #subnetOf(networkName: string): Promise<string | null> {
    const info = (await this.#docker.getNetwork(networkName).inspect()) as Docker.NetworkInspectInfo;
    return info.IPAM?.Config?.find((c) => c.Subnet && !c.Subnet.includes(":"))?.Subnet ?? null;
  }
}

async function run(argv: string[], doing: string): Promise<void> {
  const res = await exec(argv, { timeoutMs: 10_000 });
  if (res.code !== 0) throw new BeamstalkError("internal", `${doing}: ${argv[0]} exited ${res.code}: ${res.stderr.trim().slice(0, 300)}`);
}
