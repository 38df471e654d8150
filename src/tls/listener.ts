import { createSecureContext, createServer, type SecureContext, type Server as TlsServer, type TLSSocket } from "node:tls";
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
 * TLS is node:tls, which Bun implements natively: unlike Bun.listen it picks
 * certificates by SNI through a callback, so new certificates apply to the
 * next handshake and nothing is restarted or dropped. The first entry answers
 * clients without SNI or with an unknown name.
 */
export class HttpsListener {
  #server: TlsServer | undefined;
  #entrance: Entrance | undefined;
  #port: number;
  /** Lower-case name → its certificate (kept while the PEMs are unchanged). */
  #contexts = new Map<string, { cert: string; key: string; context: SecureContext }>();
  /** Servers closed by close(): their connections run on until they end. */
  readonly #closing = new Set<{ server: TlsServer; entrance: Entrance }>();

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
    const contexts = new Map<string, { cert: string; key: string; context: SecureContext }>();
    for (const { serverName, cert, key } of entries) {
      const name = serverName.toLowerCase();
      const known = this.#contexts.get(name);
      contexts.set(name, known && known.cert === cert && known.key === key ? known : { cert, key, context: createSecureContext({ cert, key }) });
    }
    this.#contexts = contexts;
    const first = entries[0]!;
    if (this.#server) {
      this.#server.setSecureContext({ cert: first.cert, key: first.key });
      return;
    }
    const entrance = this.options.entrance({ proto: "https" });
    const server = createServer({
      cert: first.cert,
      key: first.key,
      SNICallback: (name, done) => done(null, this.#contexts.get(name.toLowerCase())?.context),
    });
    server.on("secureConnection", (socket: TLSSocket) => attach(socket, entrance));
    server.on("tlsClientError", () => {});
    server.on("error", (error) => this.options.logger.error("tls.listener_failed", { error: error.message }));
    server.listen(this.#port, this.options.hostname);
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("the HTTPS listener has no port");
    this.#port = address.port;
    entrance.setPublicPort(this.#port);
    this.#server = server;
    this.#entrance = entrance;
  }

  /** Stops listening and, after `graceMs`, cuts what is still open. */
  async stop(graceMs = 2_000): Promise<void> {
    this.close();
    const all = [...this.#closing];
    this.#closing.clear();
    await Promise.all(
      all.map(async ({ entrance }) => {
        await Promise.race([entrance.stop(false), Bun.sleep(graceMs)]);
        await entrance.stop(true);
      }),
    );
  }

  /** Stops accepting; open connections, WebSockets included, run on until they close. */
  close(): void {
    const server = this.#server;
    const entrance = this.#entrance;
    this.#server = undefined;
    this.#entrance = undefined;
    if (!server || !entrance) return;
    server.close();
    this.#closing.add({ server, entrance });
  }
}

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
