import { type Socket, connect as tcpConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { Secret } from "../lib/secret.ts";
import { DrainSender, type SenderOptions } from "./drain-sender.ts";
import type { DrainTarget } from "./drain-url.ts";
import { octetFrame, syslogMessage } from "./syslog.ts";

const BATCH = 500;

/** syslog:// (TCP) and syslog+tls:// drains: RFC 5424 messages, RFC 6587 octet-counting framing. */
export class SyslogDrain extends DrainSender {
  constructor(app: string, url: Secret, private readonly target: DrainTarget, options: SenderOptions = {}) {
    super(app, url, options);
  }

  protected async deliver(signal: AbortSignal): Promise<void> {
    const socket = await this.#connect(signal);
    this.connected = true;
    this.lastError = null;
    let failure: Error | null = null;
    let wake: () => void = () => {};
    const fail = (err?: Error) => {
      failure ??= err ?? new Error("the drain closed the connection");
      wake();
    };
    socket.on("error", fail);
    socket.on("close", () => fail());
    // Anything the receiver sends is ignored; reading it keeps its buffers from filling.
    socket.on("data", () => {});
    const stop = () => wake();
    signal.addEventListener("abort", stop);
    try {
      while (!signal.aborted && !failure) {
        if (this.queue.length === 0) {
          await Promise.race([this.queue.wait(signal), new Promise<void>((r) => (wake = r))]);
          continue;
        }
        const batch = this.queue.take(BATCH);
        const flushed = socket.write(batch.map((e) => octetFrame(syslogMessage(this.app, e))).join(""));
        this.sent += batch.length;
        if (!flushed) {
          // A slow receiver: wait for the socket, while the queue (bounded) takes the overflow.
          await new Promise<void>((resolve) => {
            wake = resolve;
            socket.once("drain", resolve);
          });
        }
      }
      if (failure) throw failure;
    } finally {
      signal.removeEventListener("abort", stop);
      socket.destroy();
    }
  }

  #connect(signal: AbortSignal): Promise<Socket> {
    const { host, port, kind } = this.target;
    return new Promise((resolve, reject) => {
      const socket =
        kind === "syslog+tls"
          ? tlsConnect({ host, port, servername: isIp(host) ? undefined : host, ...(this.options.ca ? { ca: this.options.ca } : {}) })
          : tcpConnect({ host, port });
      const ready = kind === "syslog+tls" ? "secureConnect" : "connect";
      const timer = setTimeout(() => done(new Error(`connecting to ${host}:${port} timed out`)), this.options.timeoutMs);
      const onAbort = () => done(new Error("drain closed"));
      signal.addEventListener("abort", onAbort, { once: true });
      const done = (err?: Error) => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        socket.removeAllListeners(ready);
        socket.removeAllListeners("error");
        if (err) {
          socket.destroy();
          reject(err);
        } else {
          resolve(socket);
        }
      };
      socket.once(ready, () => done());
      socket.once("error", (err: Error) => done(err));
    });
  }
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(":");
}
