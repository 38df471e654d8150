/**
 * Ceiling probe (not a proxy): each client connection gets its own upstream
 * connection and bytes are copied both ways, unparsed. The least a proxy on
 * Bun.listen + Bun.connect can cost. Arg: upstream port.
 */
import type { Socket } from "bun";

interface Side {
  peer: Socket<Side> | null;
  pending: Uint8Array[];
}

const upstreamPort = Number(process.argv[2]);
const server = Bun.listen<Side>({
  hostname: "127.0.0.1",
  port: 0,
  socket: {
    open(client) {
      client.data = { peer: null, pending: [] };
      void Bun.connect<Side>({
        hostname: "127.0.0.1",
        port: upstreamPort,
        data: { peer: client, pending: [] },
        socket: {
          open(up) {
            client.data.peer = up;
            for (const chunk of client.data.pending) up.write(chunk);
            client.data.pending = [];
          },
          data: (up, chunk) => void up.data.peer?.write(chunk),
          close: (up) => void up.data.peer?.end(),
          error() {},
        },
      });
    },
    data(client, chunk) {
      if (client.data.peer) client.data.peer.write(chunk);
      else client.data.pending.push(chunk);
    },
    close: (client) => void client.data.peer?.end(),
    error() {},
  },
});
console.log(server.port);
