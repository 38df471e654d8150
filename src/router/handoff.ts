import type { Socket } from "bun";
import { timingSafeEqual } from "node:crypto";
import { flush } from "../lib/socket-bytes.ts";

/**
 * The front's hand-off: a client connection it does not proxy itself is
 * piped to the slow path, a Bun.serve on a unix socket in a directory only
 * the daemon's user may enter (entrance.ts), so no other local user reaches
 * it. Bytes from the slow path pass back as they come. Towards it, the front
 * still frames each request and puts one header first in its head:
 * `x-beamstalk-client: <secret> <address> <port>`, the client as the front saw
 * it. The secret is random per entrance: a client cannot forge the header even
 * on a connection that goes raw after an upgrade (a refused upgrade's next
 * requests then carry no valid header, and the slow path refuses them).
 */

export const CLIENT_HEADER = "x-beamstalk-client";

export interface ClientAddress {
  address: string;
  port: number;
  family: "IPv4" | "IPv6";
}

/** The header line (with its leading CRLF) the front inserts after a request line. */
export function clientHeaderLine(secret: string, address: string, port: number): string {
  return `\r\n${CLIENT_HEADER}: ${secret} ${address} ${port}`;
}

/**
 * The client the front vouched for, read from the first `x-beamstalk-client`
 * value (the front's comes right after the request line; a client's own
 * follows it, joined with ", "), or null when it is missing or its secret is wrong.
 */
export function vouchedClient(value: string | null, secret: string): ClientAddress | null {
  if (value === null) return null;
  const comma = value.indexOf(",");
  const parts = (comma < 0 ? value : value.slice(0, comma)).trim().split(" ");
  if (parts.length !== 3) return null;
  const given = Buffer.from(parts[0]!);
  const want = Buffer.from(secret);
  if (given.length !== want.length || !timingSafeEqual(given, want)) return null;
  const port = Number(parts[2]);
  if (!Number.isInteger(port) || port < 0 || port > 65535 || parts[1] === "") return null;
  const address = parts[1]!;
  return { address, port, family: address.includes(":") ? "IPv6" : "IPv4" };
}

/** One piped connection. `out` holds what waits to be written to the slow path. */
export interface Pipe<C> {
  sock: Socket<Pipe<C>> | null;
  client: C;
  out: Uint8Array[] | null;
}

/** What the pipes need of the front's client connections. */
export interface PipeEnds<C> {
  /** The slow path's unix socket. */
  socketPath(): string;
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
  readonly #handlers;

  constructor(private readonly ends: PipeEnds<C>) {
    this.#handlers = {
      open(sock: Socket<Pipe<C>>) {
        const pipe = sock.data;
        if (ends.isClosed(pipe.client)) {
          sock.end();
          return;
        }
        pipe.sock = sock;
        if (flush(sock, pipe)) ends.resume(pipe.client);
      },
      data(sock: Socket<Pipe<C>>, chunk: Buffer) {
        ends.toClient(sock.data.client, chunk, sock as Socket<unknown>);
      },
      drain(sock: Socket<Pipe<C>>) {
        if (flush(sock, sock.data)) ends.resume(sock.data.client);
      },
      close(sock: Socket<Pipe<C>>) {
        ends.ended(sock.data.client);
      },
      connectError(sock: Socket<Pipe<C>>) {
        const client = sock.data.client;
        if (!ends.isClosed(client)) ends.unreachable(client);
      },
      error() {},
    };
  }

  /** Opens a pipe for `client`; what is written before it opens waits in `out`. */
  open(client: C): Pipe<C> {
    const pipe: Pipe<C> = { sock: null, client, out: null };
    Bun.connect<Pipe<C>>({ unix: this.ends.socketPath(), data: pipe, socket: this.#handlers }).catch(() => {});
    return pipe;
  }
}
