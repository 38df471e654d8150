import type { Socket } from "bun";
import { createServer, type Server as TlsServer, type TLSSocket } from "node:tls";
import type { Logger } from "../lib/logger.ts";
import type { Entrance, EntranceOptions, Wire } from "../router/index.ts";

/** One SNI entry: a host name and its PEM chain and key. */
export interface SniEntry {
  serverName: string;
  cert: string;
  key: string;
}

export interface HttpsListenerOptions {
  hostname: string;
  /** 0 picks a free port at the first start; later starts take the same one. */
  port: number;
  /** The router's entrance (front + slow path) that decrypted bytes go to: router.entrance. */
  entrance: (options: EntranceOptions) => Entrance;
  logger: Logger;
}

/**
 * HTTPS with certificates picked by SNI, in front of the router's entrance
 * (the same socket-level front as plain HTTP, X-Forwarded-Proto https).
 *
 * Bun.listen does TLS natively but takes one certificate; node:tls, which Bun
 * implements on the same native listener, adds certificates by name
 * (addContext) and replaces the default (setSecureContext) while it runs, so
 * a new certificate applies to the next handshake and nothing is restarted
 * or dropped. Its per-connection layer (node streams) cost 18.5 µs of CPU per
 * proxied request against 13.6 µs for the native socket (bench/tls.ts), so
 * the native listener under it (`_handle`, Bun's own TCPSocketListener) is
 * given the front's handlers directly. Should a Bun release hide it, the
 * stream path takes over (`native` says which runs; a test pins it).
 *
 * The first entry answers clients without SNI or with an unknown name; a
 * name dropped later gets that one too (node:tls cannot remove a name).
 */
export class HttpsListener {
  #server: TlsServer | undefined;
  #entrance: Entrance | undefined;
  #port: number;
  /** Lower-case name → the PEMs it was given, to add only what changed. */
  #names = new Map<string, { cert: string; key: string }>();
  #default: { cert: string; key: string } | undefined;
  /** Whether connections run on Bun's native socket (true) or node:tls streams. */
  native = false;
  /** Servers closed by close(): their connections run on until they end. */
  readonly #closing = new Set<Entrance>();

  constructor(private readonly options: HttpsListenerOptions) {
    this.#port = options.port;
  }

  get port(): number | undefined {
    return this.#server ? this.#port : undefined;
  }

  get listening(): boolean {
    return this.#server !== undefined;
  }

  /** Serves `entries` from now on: the first call listens, later ones change certificates in place. */
  serve(entries: SniEntry[]): void {
    if (entries.length === 0) return this.close();
    const first = entries[0]!;
    const fallback = { cert: first.cert, key: first.key };
    let server = this.#server;
    if (!server) {
      server = this.#listen(fallback);
      this.#names.clear();
    } else if (this.#default?.cert !== fallback.cert || this.#default.key !== fallback.key) {
      server.setSecureContext(fallback);
    }
    this.#default = fallback;
    const wanted = new Set<string>();
    for (const { serverName, cert, key } of entries.slice(1)) {
      const name = serverName.toLowerCase();
      wanted.add(name);
      const known = this.#names.get(name);
      if (known?.cert === cert && known.key === key) continue;
      server.addContext(name, { cert, key });
      this.#names.set(name, { cert, key });
    }
    for (const [name, pems] of this.#names) {
      if (wanted.has(name) || (pems.cert === fallback.cert && pems.key === fallback.key)) continue;
      server.addContext(name, fallback);
      this.#names.set(name, fallback);
    }
  }

  #listen(fallback: { cert: string; key: string }): TlsServer {
    const entrance = this.options.entrance({ proto: "https" });
    const server = createServer(fallback);
    server.on("error", (error) => this.options.logger.error("tls.listener_failed", { error: error.message }));
    // reusePort: a successor daemon (beamstalk upgrade) binds the same port while this one still serves.
    server.listen({ port: this.#port, host: this.options.hostname, reusePort: true } as { port: number; host: string });
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("the HTTPS listener has no port");
    this.#port = address.port;
    entrance.setPublicPort(this.#port);
    const handle = (server as unknown as { _handle?: { reload?: (options: { socket: object }) => void } })._handle;
    if (typeof handle?.reload === "function") {
      const { handlers } = entrance;
      handle.reload({
        socket: {
          open(sock: Socket<Client>) {
            sock.setNoDelay(true);
            sock.data = handlers.open(sock as unknown as Socket<unknown>);
          },
          data: (sock: Socket<Client>, chunk: Buffer) => handlers.data(sock.data, chunk),
          drain: (sock: Socket<Client>) => handlers.drain(sock.data),
          close: (sock: Socket<Client>) => handlers.close(sock.data),
          error() {},
        },
      });
      this.native = true;
    } else {
      server.on("secureConnection", (socket: TLSSocket) => attach(socket, entrance));
      server.on("tlsClientError", () => {});
      this.native = false;
    }
    this.#server = server;
    this.#entrance = entrance;
    return server;
  }

  /** Stops listening and, after `graceMs`, cuts what is still open. */
  async stop(graceMs = 2_000): Promise<void> {
    this.close();
    const all = [...this.#closing];
    this.#closing.clear();
    await Promise.all(
      all.map(async (entrance) => {
        await Promise.race([entrance.stop(false), Bun.sleep(graceMs)]);
        await entrance.stop(true);
      }),
    );
  }

  /** Stops accepting, then lets open connections end within `boundMs`; cuts the rest and says how many. */
  async drain(boundMs: number): Promise<number> {
    this.close();
    const all = [...this.#closing];
    this.#closing.clear();
    return (await Promise.all(all.map((entrance) => entrance.drain(boundMs)))).reduce((a, b) => a + b, 0);
  }

  /** Stops accepting; open connections, WebSockets included, run on until they close. */
  close(): void {
    const server = this.#server;
    const entrance = this.#entrance;
    this.#server = undefined;
    this.#entrance = undefined;
    if (!server || !entrance) return;
    server.close();
    this.#closing.add(entrance);
  }
}

type Client = ReturnType<Entrance["handlers"]["open"]>;

/** A decrypted TLS connection as the front's Wire: it writes while node:tls takes more (writableNeedDrain), then waits for drain. */
function attach(socket: TLSSocket, entrance: Entrance): void {
  const wire: Wire = {
    write(data) {
      if (socket.writableNeedDrain || socket.destroyed) return 0;
      socket.write(data);
      return data.length;
    },
    end: () => void socket.end(),
    terminate: () => void socket.destroy(),
    pause: () => void socket.pause(),
    resume: () => void socket.resume(),
    get remoteAddress() {
      return socket.remoteAddress ?? "";
    },
    get remotePort() {
      return socket.remotePort ?? 0;
    },
  };
  const { handlers } = entrance;
  const client = handlers.open(wire);
  socket.on("data", (chunk: Buffer) => handlers.data(client, chunk));
  socket.on("drain", () => handlers.drain(client));
  socket.on("close", () => handlers.close(client));
  socket.on("error", () => {});
}
