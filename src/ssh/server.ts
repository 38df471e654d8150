import type { RepoOptions } from "../git/repos.ts";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { Server, type Connection } from "ssh2";
import type { GitAccessOptions, GitUser } from "../git/access.ts";
import type { Logger } from "../lib/logger.ts";
import { authenticate } from "./auth.ts";
import { loadHostKey } from "./host-key.ts";
import type { OpsOptions } from "./ops-channel.ts";
import { handleSession } from "./session.ts";
import { handleForward } from "./tcpip.ts";
import { Tunnels } from "./tunnels.ts";

export interface SshServerOptions extends GitAccessOptions, Pick<RepoOptions, "maxPushBytes"> {
  /** Holds ssh_host_ed25519_key. */
  dataDir: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  logger: Logger;
  /** The user owning a registered key, by "SHA256:…" fingerprint (state.sshKeys.ownerOf + users.byId). */
  userForFingerprint(fingerprint: string): GitUser | null;
  reposDir: string;
  /** argv of the pre-receive hook written into each repository. */
  hookCommand: readonly string[];
  /** Extra env for git and the pre-receive hook, e.g. `{ BEAMSTALK_SOCKET }`. */
  hookEnv(user: GitUser, app: string): Record<string, string>;
  /** A connection that has not authenticated by then is dropped. Default 30 s. */
  authTimeoutMs?: number;
  /** A git transfer moving no byte either way for this long is killed. Default 10 minutes. */
  idleTimeoutMs?: number;
  /** Shell, console, rpc, eval and migrate in the caller's own replicas; refused when absent. */
  ops?: OpsOptions;
}

export interface SshServer {
  port: number;
  stop(): Promise<void>;
  /** Stops accepting; open sessions (pushes, consoles, tunnels) run on until they end or `boundMs` passes. Resolves with how many it cut. */
  drain(boundMs: number): Promise<number>;
}

/**
 * SSH for git and for operating the caller's running apps: public-key auth only,
 * no host shell, no forwarding but `ssh -L` to the EPMD and distribution port of
 * the replica an observer session on the same connection holds (tcpip.ts).
 */
export async function startSshServer(options: SshServerOptions): Promise<SshServer> {
  const hostKey = loadHostKey(options.dataDir, options.logger);
  const sessionOptions = { ...options, reposDir: resolve(options.reposDir) };
  const connections = new Set<Connection>();
  const server = new Server({ hostKeys: [hostKey], ident: "beamstalk" }, (client, info) => {
    connections.add(client);
    let user: GitUser | null = null;
    const tunnels = new Tunnels();
    const authTimer = setTimeout(() => client.end(), options.authTimeoutMs ?? 30_000);
    client.on("authentication", (ctx) =>
      authenticate(ctx, options.userForFingerprint, (found, fingerprint) => {
        user = found;
        options.logger.info("ssh.authenticated", { user: found.id, key: fingerprint, ip: info.ip });
      }),
    );
    client.on("ready", () => {
      clearTimeout(authTimer);
      client.on("session", (accept) => {
        if (user) handleSession(sessionOptions, accept(), user, tunnels);
      });
    });
    client.on("tcpip", (accept, reject, info) => {
      handleForward(options, user, tunnels, info, accept, reject).catch((err) => {
        options.logger.error("ssh.forward.failed", { user: user?.id ?? null, error: err instanceof Error ? err.message : String(err) });
        reject();
      });
    });
    client.on("openssh.streamlocal", (_accept, reject) => reject());
    client.on("request", (_accept, reject) => reject?.());
    client.on("error", (err) => options.logger.warn("ssh.client_error", { ip: info.ip, error: err.message }));
    client.on("close", () => {
      clearTimeout(authTimer);
      connections.delete(client);
    });
  });

  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    // reusePort: a successor daemon (beamstalk upgrade) binds the same port while this one still serves.
    server.listen({ port: options.port, host: options.host, reusePort: true } as { port: number; host: string }, () => {
      server.off("error", fail);
      done();
    });
  });
  const port = (server.address() as AddressInfo).port;
  options.logger.info("ssh.listening", { host: options.host, port });
  return {
    port,
    async stop() {
      const closed = new Promise<void>((done) => server.close(() => done()));
      for (const client of connections) client.end();
      await closed;
    },
    async drain(boundMs) {
      server.close();
      const deadline = Date.now() + boundMs;
      while (connections.size > 0 && Date.now() < deadline) await Bun.sleep(100);
      const cut = connections.size;
      for (const client of connections) client.end();
      return cut;
    },
  };
}
