import type { Server, WebSocketHandler } from "bun";
import type { Logger } from "../lib/logger.ts";

/** One SNI entry: a host name and its PEM chain and key. */
export interface SniEntry {
  serverName: string;
  cert: string;
  key: string;
}

export interface HttpsListenerOptions {
  hostname: string;
  /** 0 picks a free port at the first start; later servers take the same one. */
  port: number;
  fetch: (req: Request, server: Server<any>) => Response | Promise<Response> | undefined | Promise<Response | undefined>;
  websocket: WebSocketHandler<any>;
  logger: Logger;
  /** How long a replaced server may keep its open connections (WebSockets, long polls) before it is cut: default 24 h. */
  drainMs?: number;
}

/**
 * HTTPS with certificates picked by SNI (Bun.serve's tls array: the first
 * entry answers unknown names and clients without SNI).
 *
 * Bun cannot change a running server's certificates (`reload({ tls })` keeps
 * the old ones), so a new certificate set starts a second server on the same
 * port (SO_REUSEPORT) and the old one stops gracefully: it accepts nothing
 * new, and its open connections, WebSockets included, run on until they close.
 */
export class HttpsListener {
  #current: Server<any> | undefined;
  #port: number;
  readonly #draining = new Set<{ server: Server<any>; timer: ReturnType<typeof setTimeout> }>();

  constructor(private readonly options: HttpsListenerOptions) {
    this.#port = options.port;
  }

  get port(): number | undefined {
    return this.#current ? this.#port : undefined;
  }

  get listening(): boolean {
    return this.#current !== undefined;
  }

  /** Serves `entries` from now on: the first call listens, later ones swap servers. */
  serve(entries: SniEntry[]): void {
    if (entries.length === 0) return this.close();
    const next = Bun.serve({
      hostname: this.options.hostname,
      port: this.#port,
      reusePort: true,
      idleTimeout: 0,
      tls: entries.map((e) => ({ serverName: e.serverName, cert: e.cert, key: e.key })),
      fetch: this.options.fetch as never,
      websocket: this.options.websocket,
    });
    this.#port = next.port!;
    const old = this.#current;
    this.#current = next;
    if (old) this.#retire(old);
  }

  /** Stops listening; open connections are cut after `graceMs`. */
  async stop(graceMs = 2_000): Promise<void> {
    this.close();
    const all = [...this.#draining];
    this.#draining.clear();
    await Promise.all(
      all.map(async ({ server, timer }) => {
        clearTimeout(timer);
        await Promise.race([server.stop(false), Bun.sleep(graceMs)]);
        await server.stop(true);
      }),
    );
  }

  close(): void {
    const old = this.#current;
    this.#current = undefined;
    if (old) this.#retire(old);
  }

  #retire(server: Server<any>): void {
    const entry = {
      server,
      timer: setTimeout(() => {
        this.#draining.delete(entry);
        void server.stop(true);
      }, this.options.drainMs ?? 86_400_000),
    };
    entry.timer.unref?.();
    this.#draining.add(entry);
    // Graceful: resolves once its last connection closed.
    void server.stop(false).then(() => {
      clearTimeout(entry.timer);
      this.#draining.delete(entry);
    });
  }
}
