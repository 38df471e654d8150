/**
 * Ceiling probe, NOT a usable proxy: what a socket-level HTTP proxy on Bun
 * (Bun.listen front, pooled keep-alive Bun.connect upstream) could reach.
 * It finds the end of each request head, appends X-Forwarded-For/-Proto,
 * and relays responses framed by Content-Length only: no request bodies, no
 * chunked, no hop-by-hop removal, no routing, no error handling. Arg: upstream port.
 */
import type { Socket } from "bun";

interface Client {
  buf: Buffer | null;
  busy: boolean;
}
interface Upstream {
  client: Socket<Client> | null;
  buf: Buffer | null;
}

const upstreamPort = Number(process.argv[2]);
const idle: Socket<Upstream>[] = [];

const upstreamHandler = {
  data(up: Socket<Upstream>, chunk: Buffer) {
    const buf = up.data.buf ? Buffer.concat([up.data.buf, chunk]) : chunk;
    const end = buf.indexOf("\r\n\r\n");
    const length = end < 0 ? -1 : Number(/\r\ncontent-length: *(\d+)/i.exec(buf.toString("latin1", 0, end))?.[1] ?? 0);
    if (end < 0 || buf.length < end + 4 + length) {
      up.data.buf = buf;
      return;
    }
    up.data.buf = null;
    const client = up.data.client!;
    up.data.client = null;
    client.write(buf);
    idle.push(up);
    client.data.busy = false;
    next(client);
  },
  close(up: Socket<Upstream>) {
    const i = idle.indexOf(up);
    if (i >= 0) idle.splice(i, 1);
  },
  error() {},
};

async function send(client: Socket<Client>, head: Buffer): Promise<void> {
  const up = idle.pop() ?? (await Bun.connect<Upstream>({ hostname: "127.0.0.1", port: upstreamPort, data: { client: null, buf: null }, socket: upstreamHandler }));
  up.data.client = client;
  up.write(head);
}

function next(client: Socket<Client>): void {
  const { buf } = client.data;
  if (client.data.busy || buf === null) return;
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) return;
  client.data.buf = buf.length > end + 4 ? buf.subarray(end + 4) : null;
  client.data.busy = true;
  const head = `${buf.toString("latin1", 0, end)}\r\nx-forwarded-for: ${client.remoteAddress}\r\nx-forwarded-proto: http\r\n\r\n`;
  void send(client, Buffer.from(head, "latin1"));
}

const server = Bun.listen<Client>({
  hostname: "127.0.0.1",
  port: 0,
  socket: {
    open: (client) => void (client.data = { buf: null, busy: false }),
    data(client, chunk) {
      client.data.buf = client.data.buf ? Buffer.concat([client.data.buf, chunk]) : chunk;
      next(client);
    },
    error() {},
  },
});
console.log(server.port);
