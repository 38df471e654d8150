import { checkDomain } from "../lib/domain-name.ts";
import { badRequest } from "../lib/errors.ts";

export interface ServerOptions {
  dataDir: string;
  bind: string;
  httpPort: number;
  httpsPort: number;
  sshPort: number;
  baseDomain?: string;
  controllerHost?: string;
  /** The base URL replicas reach the API at, to fetch their slug; absent: the daemon's own HTTP URL. */
  controllerUrl?: string;
  acmeDirectory: string;
  acmeEmail?: string;
  /** Where replicas run: this host's Docker engine, or a Docker Swarm across hosts. */
  runner: RunnerKind;
  /** The address this host's Swarm manager advertises when the server turns it into one (swarm runner). */
  swarmAdvertiseAddr?: string;
  /** The kubeconfig file (k3s runner); absent: KUBECONFIG, ~/.kube/config, or the pod's service account. */
  kubeconfig?: string;
  /** The cluster's pod networks (k3s runner): the NetworkPolicy admits no other pod into an app's. */
  k3sPodCidrs?: string[];
  /** Addresses inside the pod network the router's connections come from (k3s runner), admitted by the NetworkPolicy. */
  k3sRouterCidrs?: string[];
}

export const RUNNERS = ["docker", "swarm", "k3s"] as const;
export type RunnerKind = (typeof RUNNERS)[number];

export const SERVER_FLAGS = {
  dataDir: { flag: "data-dir", env: "BEAMSTALK_DATA_DIR", default: "/var/lib/beamstalk", description: "where all state lives" },
  bind: { flag: "bind", env: "BEAMSTALK_BIND", default: "0.0.0.0", description: "address to listen on" },
  httpPort: { flag: "http-port", env: "BEAMSTALK_HTTP_PORT", default: "80", description: "HTTP port: API, git and apps (0 picks a free port)" },
  httpsPort: { flag: "https-port", env: "BEAMSTALK_HTTPS_PORT", default: "443", description: "HTTPS port for apps with certificates (0 disables)" },
  sshPort: { flag: "ssh-port", env: "BEAMSTALK_SSH_PORT", default: "2222", description: "SSH port for git and consoles" },
  baseDomain: { flag: "base-domain", env: "BEAMSTALK_BASE_DOMAIN", default: "", description: "apps are served at <app>.<base-domain>" },
  controllerHost: { flag: "controller-host", env: "BEAMSTALK_CONTROLLER_HOST", default: "", description: "the controller's own host name (API and git), served over HTTPS too" },
  controllerUrl: { flag: "controller-url", env: "BEAMSTALK_CONTROLLER_URL", default: "", description: "the URL replicas on other hosts fetch their slug from (none: this server's own HTTP URL)" },
  acmeDirectory: { flag: "acme-directory", env: "BEAMSTALK_ACME_DIRECTORY", default: "https://acme-v02.api.letsencrypt.org/directory", description: "ACME directory for automatic certificates" },
  acmeEmail: { flag: "acme-email", env: "BEAMSTALK_ACME_EMAIL", default: "", description: "contact address of the ACME account" },
  runner: { flag: "runner", env: "BEAMSTALK_RUNNER", default: "docker", description: "where replicas run: docker (this host), swarm (a Docker Swarm across hosts) or k3s (any Kubernetes)" },
  swarmAdvertiseAddr: { flag: "swarm-advertise-addr", env: "BEAMSTALK_SWARM_ADVERTISE_ADDR", default: "", description: "address the Swarm manager advertises to other hosts, when the server makes this host one" },
  kubeconfig: { flag: "kubeconfig", env: "BEAMSTALK_KUBECONFIG", default: "", description: "kubeconfig of the cluster (k3s runner; none: KUBECONFIG, ~/.kube/config, or in-cluster)" },
  k3sPodCidrs: { flag: "k3s-pod-cidr", env: "BEAMSTALK_K3S_POD_CIDR", default: "10.42.0.0/16", description: "the cluster's pod network(s), comma-separated: no other pod may reach an app's (k3s runner)" },
  k3sRouterCidrs: { flag: "k3s-router-cidr", env: "BEAMSTALK_K3S_ROUTER_CIDR", default: "", description: "addresses inside the pod network the router's connections come from, comma-separated (k3s runner; e.g. other nodes' flannel.1)" },
} as const;

type FlagName = keyof typeof SERVER_FLAGS;

/** Flags win over BEAMSTALK_* variables, which win over defaults. */
export function resolveServerOptions(
  flags: Partial<Record<FlagName, string | undefined>>,
  env: Record<string, string | undefined> = process.env,
): ServerOptions {
  const pick = (name: FlagName): string => flags[name] ?? env[SERVER_FLAGS[name].env] ?? SERVER_FLAGS[name].default;
  const port = (name: FlagName): number => {
    const text = pick(name);
    const n = Number(text);
    if (!/^\d+$/.test(text) || n > 65535) throw badRequest(`--${SERVER_FLAGS[name].flag} must be a port number 0-65535, got ${JSON.stringify(text)}`);
    return n;
  };
  const baseDomain = pick("baseDomain").toLowerCase();
  if (baseDomain && !/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(baseDomain)) {
    throw badRequest(`--base-domain ${JSON.stringify(baseDomain)} is not a domain name`);
  }
  const controllerHost = pick("controllerHost").toLowerCase();
  if (controllerHost) checkDomain(controllerHost);
  const controllerUrl = checkControllerUrl(pick("controllerUrl"));
  const acmeEmail = pick("acmeEmail");
  const runner = pick("runner");
  if (!(RUNNERS as readonly string[]).includes(runner)) throw badRequest(`--runner must be one of ${RUNNERS.join(", ")}, got ${JSON.stringify(runner)}`);
  const swarmAdvertiseAddr = pick("swarmAdvertiseAddr");
  const kubeconfig = pick("kubeconfig");
  const cidrs = (name: FlagName) => pick(name).split(",").map((c) => c.trim()).filter(Boolean);
  const k3sPodCidrs = cidrs("k3sPodCidrs");
  const k3sRouterCidrs = cidrs("k3sRouterCidrs");
  for (const cidr of [...k3sPodCidrs, ...k3sRouterCidrs]) if (!/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$|^[0-9a-fA-F:]+\/\d{1,3}$/.test(cidr)) throw badRequest(`--k3s-pod-cidr / --k3s-router-cidr: ${JSON.stringify(cidr)} is not a CIDR`);
  if (runner === "k3s" && k3sPodCidrs.length === 0) throw badRequest("--k3s-pod-cidr must name the cluster's pod network (k3s: 10.42.0.0/16)");
  const dataDir = pick("dataDir");
  if (!dataDir) throw badRequest("--data-dir must not be empty");
  return {
    dataDir,
    bind: pick("bind"),
    httpPort: port("httpPort"),
    httpsPort: port("httpsPort"),
    sshPort: port("sshPort"),
    ...(baseDomain ? { baseDomain } : {}),
    acmeDirectory: pick("acmeDirectory"),
    ...(controllerHost ? { controllerHost } : {}),
    ...(controllerUrl ? { controllerUrl } : {}),
    ...(acmeEmail ? { acmeEmail } : {}),
    runner: runner as RunnerKind,
    ...(swarmAdvertiseAddr ? { swarmAdvertiseAddr } : {}),
    ...(kubeconfig ? { kubeconfig } : {}),
    ...(runner === "k3s" ? { k3sPodCidrs, k3sRouterCidrs } : {}),
  };
}

/** An http(s) base URL without query, fragment or user info (replicas append /internal/slugs/…); "" stays "". */
function checkControllerUrl(text: string): string {
  if (!text) return "";
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw badRequest(`--controller-url ${JSON.stringify(text).slice(0, 80)} is not a URL`, "e.g. http://10.0.0.5 or https://paas.example.com");
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.search || url.hash || url.username || url.password || /\s/.test(text)) {
    throw badRequest(`--controller-url must be a plain http(s) URL (no query, fragment or user info), got ${JSON.stringify(text).slice(0, 80)}`);
  }
  return url.href.replace(/\/+$/, "");
}
