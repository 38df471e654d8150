import type { Socket, TCPSocketListener } from "bun";
import type { Logger } from "../lib/logger.ts";
import type { Secret } from "../lib/secret.ts";
import { append, put } from "../lib/socket-bytes.ts";
import { checkHead, refusal, tokenDigest } from "./head.ts";
import { type PipeEnd, joinPipe, pipeEnd, pipeHandlers } from "./pipe.ts";

const EMPTY = Buffer.alloc(0);
const REFUSED_LINGER_MS = 1000;
const KEEPALIVE_MS = 60_000;

export interface AgentOptions {
  hostname: string;
  port: number;
  token: Secret;
  /** The local engine's socket, e.g. /var/run/docker.sock. */
  dockerSocket: string;
  logger: Logger;
  /** Time a new connection has to send its first head (default 10 s). */
  headTimeoutMs?: number;
  /** Largest first head accepted, in bytes (default 16 KiB; Docker's own heads are a few hundred). */
  maxHeadBytes?: number;
}

export interface Agent {
  hostname: string;
  port: number;
  /** Stops listening and closes every connection. */
  stop(): void;
}

interface Client extends PipeEnd {
  peer: string;
  /** "head" until the first head is checked; a refused connection's bytes are dropped. */
  state: "head" | "piped" | "refused";
  /** The first bytes, until their head is checked. */
  head: Buffer;
  searched: number;
  timer: ReturnType<typeof setTimeout> | null;
}

/**
 * The node agent: a TCP listener in front of the local Docker socket. The
 * first request head on a connection must carry the token; after it the
 * connection is a blind pipe both ways, because an exec start or attach turns
 * the connection into a raw stream that no longer parses as HTTP. A refused
 * connection gets its answer and is closed; none of its bytes reach Docker.
 */
export function startAgent(options: AgentOptions): Agent {
  const { logger, dockerSocket } = options;
  const expected = tokenDigest(options.token.reveal());
  const headTimeoutMs = options.headTimeoutMs ?? 10_000;
  const maxHeadBytes = options.maxHeadBytes ?? 16 * 1024;

  function refuse(sock: Socket<Client>, status: number, reason: string): void {
    const c = sock.data;
    if (c.state !== "head") return;
    c.state = "refused";
    c.head = EMPTY;
    clearTimer(c);
    logger.warn("agent.connection.refused", { peer: c.peer, status, reason });
    sock.end(refusal(status, status === 401 ? "missing or wrong token" : reason));
    // A peer that never closes its side is not kept waiting on.
    c.timer = setTimeout(() => sock.terminate(), REFUSED_LINGER_MS);
  }

  function readHead(sock: Socket<Client>, chunk: Buffer): void {
    const c = sock.data;
    c.head = c.head.length === 0 ? chunk : append(c.head, chunk);
    const check = checkHead(c.head, expected, maxHeadBytes, c.searched);
    if (check.verdict === "incomplete") {
      c.searched = check.searched;
      return;
    }
    if (check.verdict === "refused") return refuse(sock, check.status, check.reason);
    c.state = "piped";
    clearTimer(c);
    logger.info("agent.connection.accepted", { peer: c.peer });
    // The head goes first; nothing more is read until Docker's socket has taken it.
    put(null, c.toOther, c.head);
    c.head = EMPTY;
    sock.pause();
    Bun.connect<PipeEnd>({ unix: dockerSocket, data: pipeEnd(sock), allowHalfOpen: true, socket: upstreamHandlers }).catch(() => {});
  }

  const clientHandlers = {
    open(sock: Socket<Client>) {
      const c: Client = { ...pipeEnd(), peer: `${sock.remoteAddress}:${sock.remotePort}`, state: "head", head: EMPTY, searched: 0, timer: null };
      sock.data = c;
      // Keystrokes of a remote console go at once; a controller that vanished is noticed (and IPVS's idle cut avoided).
      sock.setNoDelay(true);
      sock.setKeepAlive(true, KEEPALIVE_MS);
      c.timer = setTimeout(() => refuse(sock, 408, "head not received in time"), headTimeoutMs);
    },
    data(sock: Socket<Client>, chunk: Buffer) {
      const state = sock.data.state;
      if (state === "piped") pipeHandlers.data(sock, chunk);
      else if (state === "head") readHead(sock, chunk);
    },
    drain(sock: Socket<Client>) {
      if (sock.data.state === "piped") pipeHandlers.drain(sock);
    },
    end(sock: Socket<Client>) {
      const state = sock.data.state;
      if (state === "piped") pipeHandlers.end(sock);
      else if (state === "head") refuse(sock, 400, "closed before its head ended");
    },
    close(sock: Socket<Client>) {
      clearTimer(sock.data);
      pipeHandlers.close(sock);
    },
    error() {},
  };

  const upstreamHandlers = {
    ...pipeHandlers,
    open(up: Socket<PipeEnd>) {
      const client = up.data.other!;
      if (client.data.closed) return void up.end();
      joinPipe(client, up);
    },
    connectError(up: Socket<PipeEnd>, error: Error) {
      const client = up.data.other!;
      logger.error("agent.docker.unreachable", { peer: (client.data as Client).peer, socket: dockerSocket, error: error.message });
      if (client.data.closed) return;
      client.end(refusal(502, `cannot reach Docker at ${dockerSocket}`));
      setTimeout(() => client.terminate(), REFUSED_LINGER_MS);
    },
  };

  const listener: TCPSocketListener<Client> = Bun.listen<Client>({
    hostname: options.hostname,
    port: options.port,
    allowHalfOpen: true,
    socket: clientHandlers,
  });
  logger.info("agent.listening", { address: `${listener.hostname}:${listener.port}`, docker: dockerSocket });
  return { hostname: listener.hostname, port: listener.port, stop: () => listener.stop(true) };
}

function clearTimer(c: Client): void {
  if (c.timer !== null) clearTimeout(c.timer);
  c.timer = null;
}
