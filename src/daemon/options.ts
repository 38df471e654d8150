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
  acmeDirectory: string;
  acmeEmail?: string;
  /** Where replicas run: this host's Docker engine, or a Docker Swarm across hosts. */
  runner: RunnerKind;
  /** The address this host's Swarm manager advertises when the server turns it into one (swarm runner). */
  swarmAdvertiseAddr?: string;
}

export const RUNNERS = ["docker", "swarm"] as const;
export type RunnerKind = (typeof RUNNERS)[number];

export const SERVER_FLAGS = {
  dataDir: { flag: "data-dir", env: "BEAMSTALK_DATA_DIR", default: "/var/lib/beamstalk", description: "where all state lives" },
  bind: { flag: "bind", env: "BEAMSTALK_BIND", default: "0.0.0.0", description: "address to listen on" },
  httpPort: { flag: "http-port", env: "BEAMSTALK_HTTP_PORT", default: "80", description: "HTTP port: API, git and apps (0 picks a free port)" },
  httpsPort: { flag: "https-port", env: "BEAMSTALK_HTTPS_PORT", default: "443", description: "HTTPS port for apps with certificates (0 disables)" },
  sshPort: { flag: "ssh-port", env: "BEAMSTALK_SSH_PORT", default: "2222", description: "SSH port for git and consoles" },
  baseDomain: { flag: "base-domain", env: "BEAMSTALK_BASE_DOMAIN", default: "", description: "apps are served at <app>.<base-domain>" },
  controllerHost: { flag: "controller-host", env: "BEAMSTALK_CONTROLLER_HOST", default: "", description: "the controller's own host name (API and git), served over HTTPS too" },
  acmeDirectory: { flag: "acme-directory", env: "BEAMSTALK_ACME_DIRECTORY", default: "https://acme-v02.api.letsencrypt.org/directory", description: "ACME directory for automatic certificates" },
  acmeEmail: { flag: "acme-email", env: "BEAMSTALK_ACME_EMAIL", default: "", description: "contact address of the ACME account" },
  runner: { flag: "runner", env: "BEAMSTALK_RUNNER", default: "docker", description: "where replicas run: docker (this host) or swarm (a Docker Swarm across hosts)" },
  swarmAdvertiseAddr: { flag: "swarm-advertise-addr", env: "BEAMSTALK_SWARM_ADVERTISE_ADDR", default: "", description: "address the Swarm manager advertises to other hosts, when the server makes this host one" },
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
  const acmeEmail = pick("acmeEmail");
  const runner = pick("runner");
  if (!(RUNNERS as readonly string[]).includes(runner)) throw badRequest(`--runner must be one of ${RUNNERS.join(", ")}, got ${JSON.stringify(runner)}`);
  const swarmAdvertiseAddr = pick("swarmAdvertiseAddr");
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
    ...(acmeEmail ? { acmeEmail } : {}),
    runner: runner as RunnerKind,
    ...(swarmAdvertiseAddr ? { swarmAdvertiseAddr } : {}),
  };
}
