/**
 * The front's defence against slowloris: bounds on client connections that
 * have not sent a full request head yet (a fresh connection, or a keep-alive
 * one part-way through its next head).
 *
 * - Each may take `headTimeoutMs` from its open (or from the first bytes of a
 *   later head) to a full head; then it gets a 408 and is closed.
 * - A keep-alive connection with nothing pending is closed after `idleMs`
 *   (nginx's keepalive_timeout is 75 s too): otherwise a client could hold a
 *   connection for good with one small request.
 * - At most `perAddress` such connections per client address (an IPv6
 *   address's /64) at once; one more is answered 429 and closed. Generous
 *   (256): a connection counts until the front has read its head, so a busy
 *   front inflates the count, and a proxy puts many clients behind one address.
 *
 * Nothing else is ever cut here: a request whose head arrived (its body, a
 * long poll waiting for the app, a download the client reads slowly, a
 * WebSocket tunnel, a connection handed to the slow path) is not this
 * file's business. Time is the front's coarse clock, and one sweep a second
 * walks the open connections: no timer per request.
 */

export interface HeadLimits {
  headTimeoutMs: number;
  idleMs: number;
  perAddress: number;
}

export const DEFAULT_HEAD_LIMITS: HeadLimits = { headTimeoutMs: 20_000, idleMs: 75_000, perAddress: 256 };

/** What the watch keeps on each client connection. */
export interface Watched {
  /** The client's address (the peer's, as the socket has it). */
  address: string;
  /** What it counts under: the address, or an IPv6 address's /64 (lib/client-address.ts). */
  addressKey: string;
  /** It counts against its address: it has not sent a full head yet. */
  pending: boolean;
  /** When its wait began (coarse clock): the open, the first bytes of a head, the end of the last exchange. */
  since: number;
}

export class HeadWatch {
  readonly #pending = new Map<string, number>();

  constructor(readonly limits: HeadLimits) {}

  /** A connection opened: false when its address has too many waiting already (then it is not counted). */
  admit(c: Watched): boolean {
    const n = this.#pending.get(c.addressKey) ?? 0;
    if (n >= this.limits.perAddress) return false;
    this.#pending.set(c.addressKey, n + 1);
    c.pending = true;
    return true;
  }

  /** The connection started a head it has not finished. */
  started(c: Watched, now: number): void {
    if (c.pending) return;
    c.pending = true;
    c.since = now;
    this.#pending.set(c.addressKey, (this.#pending.get(c.addressKey) ?? 0) + 1);
  }

  /** Its head arrived (or it closed): it no longer counts. */
  settle(c: Watched): void {
    if (!c.pending) return;
    c.pending = false;
    const n = this.#pending.get(c.addressKey)! - 1;
    if (n === 0) this.#pending.delete(c.addressKey);
    else this.#pending.set(c.addressKey, n);
  }

  /** What is due for a connection that waits for a head: "late" (408), "idle" (close), or nothing. */
  due(c: Watched, idle: boolean, now: number): "late" | "idle" | null {
    if (c.pending) return now - c.since > this.limits.headTimeoutMs ? "late" : null;
    return idle && now - c.since > this.limits.idleMs ? "idle" : null;
  }

  /** Connections per address still counted (tests). */
  waiting(address: string): number {
    return this.#pending.get(address) ?? 0;
  }
}
