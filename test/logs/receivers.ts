import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { type Server, type Socket, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer as createTlsServer } from "node:tls";
import { exec } from "../../src/lib/exec.ts";
import { parseFrames } from "../../src/logs/syslog.ts";

/** A self-signed certificate for 127.0.0.1 and localhost, made with openssl; the cert is its own CA. */
export async function selfSigned(): Promise<{ cert: string; key: string }> {
  const dir = mkdtempSync(join(tmpdir(), "beamstalk-cert-"));
  try {
    const result = await exec([
      "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
      "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ]);
    if (result.code !== 0) throw new Error(`openssl failed: ${result.stderr}`);
    return { cert: readFileSync(join(dir, "cert.pem"), "utf8"), key: readFileSync(join(dir, "key.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface SyslogReceiver {
  port: number;
  messages: string[];
  connections: number;
  /** Stops reading (a slow receiver): the sender's socket fills up. */
  pause(): void;
  close(): Promise<void>;
}

/** A syslog receiver on 127.0.0.1 (TCP, or TLS with the given cert) that splits octet-counted frames. */
export function syslogReceiver(options: { port?: number; tls?: { cert: string; key: string } } = {}): Promise<SyslogReceiver> {
  const messages: string[] = [];
  const sockets = new Set<Socket>();
  let paused = false;
  let connections = 0;
  const onSocket = (socket: Socket) => {
    connections++;
    sockets.add(socket);
    if (paused) socket.pause();
    let rest: Buffer = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      const parsed = parseFrames(rest.length ? Buffer.concat([rest, chunk]) : chunk);
      messages.push(...parsed.messages);
      rest = Buffer.from(parsed.rest);
    });
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  };
  const server: Server = options.tls ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, onSocket) : createServer(onSocket);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      const address = server.address();
      if (!address || typeof address === "string") return reject(new Error("no address"));
      resolve({
        port: address.port,
        messages,
        get connections() {
          return connections;
        },
        pause() {
          paused = true;
          for (const s of sockets) s.pause();
        },
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** A port nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}
