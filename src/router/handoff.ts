import type { Socket } from "bun";
import { flush } from "../lib/socket-bytes.ts";

/**
 * The front's hand-off: a client connection it does not proxy itself is
 * piped, bytes both ways, to the slow path (a Bun.serve on 127.0.0.1). The
 * slow path then learns who the client is from `clients`, keyed by the
 * pipe's local port (what it sees as the peer's port).
 */

export interface ClientAddress {
  address: string;
  port: number;
  family: "IPv4" | "IPv6";
}

/** One piped connection. `out` holds what waits to be written to the slow path. */
export interface Pipe<C> {
  sock: Socket<Pipe<C>> | null;
  client: C;
  out: Uint8Array[] | null;
  localPort: number;
}

/** What the pipes need of the front's client connections. */
export interface PipeEnds<C> {
  slowPort(): number;
  address(client: C): ClientAddress;
  isClosed(client: C): boolean;
  /** Bytes from the slow path for the client; `source` is paused while the client cannot take more. */
  toClient(client: C, chunk: Buffer, source: Socket<unknown>): void;
  /** The slow path took everything queued: read the client again. */
  resume(client: C): void;
  /** The slow path closed its end. */
  ended(client: C): void;
  /** The slow path could not be reached. */
  unreachable(client: C): void;
}

export class SlowPathPipes<C> {
  /** Pipe's local port → the client it carries. */
  readonly clients = new Map<number, ClientAddress>();
  readonly #handlers;

  constructor(private readonly ends: PipeEnds<C>) {
    const clients = this.clients;
    this.#handlers = {
      open(sock: Socket<Pipe<C>>) {
        const pipe = sock.data;
        if (ends.isClosed(pipe.client)) {
          sock.end();
          return;
        }
        pipe.sock = sock;
        pipe.localPort = sock.localPort;
        clients.set(sock.localPort, ends.address(pipe.client));
        if (flush(sock, pipe)) ends.resume(pipe.client);
      },
      data(sock: Socket<Pipe<C>>, chunk: Buffer) {
        ends.toClient(sock.data.client, chunk, sock as Socket<unknown>);
      },
      drain(sock: Socket<Pipe<C>>) {
        if (flush(sock, sock.data)) ends.resume(sock.data.client);
      },
      close(sock: Socket<Pipe<C>>) {
        const pipe = sock.data;
        if (pipe.localPort !== 0) clients.delete(pipe.localPort);
        ends.ended(pipe.client);
      },
      connectError(sock: Socket<Pipe<C>>) {
        const client = sock.data.client;
        if (!ends.isClosed(client)) ends.unreachable(client);
      },
      error() {},
    };
  }

  /** Opens a pipe for `client`, starting with the bytes already read (`first`). */
  open(client: C, first: Buffer | null): Pipe<C> {
    const pipe: Pipe<C> = { sock: null, client, out: first === null ? null : [first], localPort: 0 };
    Bun.connect<Pipe<C>>({ hostname: "127.0.0.1", port: this.ends.slowPort(), data: pipe, socket: this.#handlers }).catch(() => {});
    return pipe;
  }
}
