import type { Socket, TCPSocketListener } from "bun";

export interface LoopbackProxy {
  /** http://127.0.0.1:PORT, for HTTPS_PROXY. */
  url: string;
  /** "name:port" of every tunnel opened, in order. */
  tunnels: string[];
  stop(): void;
}

interface Tunnel {
  head: string;
  upstream?: Socket<undefined>;
  pending: Uint8Array[];
  /** Bytes a socket did not take yet (Bun's socket.write may write part), per direction. */
  toClient: Uint8Array[];
  toUpstream: Uint8Array[];
}

/** Writes what is queued, keeping what the socket did not take for its next drain. */
function flush(socket: Socket<any>, queue: Uint8Array[]): void {
  while (queue.length) {
    const chunk = queue[0]!;
    const n = socket.write(chunk);
    if (n >= chunk.length) queue.shift();
    else {
      queue[0] = chunk.subarray(Math.max(0, n));
      return;
    }
  }
}

const send = (socket: Socket<any>, queue: Uint8Array[], bytes: Uint8Array) => {
  queue.push(bytes.slice()); // the chunk's buffer is reused after the handler returns
  if (queue.length === 1) flush(socket, queue);
};

/**
 * An HTTP CONNECT proxy that maps a few host names to 127.0.0.1, the way
 * curl's --resolve does: a client given HTTPS_PROXY=url (Bun's fetch, curl,
 * git) opens its TLS session through the tunnel itself, with SNI and
 * certificate checks for the real name. Tunnels go to 127.0.0.1 only, and only
 * for the names listed; anything else is refused (403).
 */
export function startLoopbackProxy(names: string[]): LoopbackProxy {
  const allowed = new Set(names.map((n) => n.toLowerCase()));
  const tunnels: string[] = [];
  const listener: TCPSocketListener<Tunnel> = Bun.listen<Tunnel>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        client.data = { head: "", pending: [], toClient: [], toUpstream: [] };
      },
      async data(client, chunk) {
        const t = client.data;
        if (t.upstream) return send(t.upstream, t.toUpstream, chunk);
        if (t.head.includes("\r\n\r\n")) return void t.pending.push(chunk.slice()); // connecting: keep what comes early
        t.head += Buffer.from(chunk).toString("latin1");
        const end = t.head.indexOf("\r\n\r\n");
        if (end < 0) return;
        const m = /^CONNECT ([a-z0-9.-]+):(\d{1,5}) HTTP\/1\.[01]\r\n/i.exec(t.head);
        if (!m || !allowed.has(m[1]!.toLowerCase())) return void client.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
        const rest = Buffer.from(t.head.slice(end + 4), "latin1");
        if (rest.length) t.pending.push(rest);
        tunnels.push(`${m[1]!.toLowerCase()}:${m[2]}`);
        try {
          t.upstream = await Bun.connect({
            hostname: "127.0.0.1",
            port: Number(m[2]),
            socket: {
              data: (_up, bytes) => send(client, t.toClient, bytes),
              drain: (up) => flush(up, t.toUpstream),
              close: () => void client.end(),
              error: () => void client.end(),
            },
          });
        } catch {
          return void client.end("HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
        }
        send(client, t.toClient, Buffer.from("HTTP/1.1 200 Connection Established\r\n\r\n"));
        for (const early of t.pending.splice(0)) send(t.upstream, t.toUpstream, early);
      },
      drain(client) {
        flush(client, client.data.toClient);
      },
      close(client) {
        client.data.upstream?.end();
      },
      error(client) {
        client.data.upstream?.end();
      },
    },
  });
  return { url: `http://127.0.0.1:${listener.port}`, tunnels, stop: () => listener.stop(true) };
}
