import type { Database } from "bun:sqlite";
import { Secret } from "../lib/secret.ts";
import { type Clock, isoNow } from "./clock.ts";
import type { Cipher } from "./crypto.ts";

export type CertificateState = "pending" | "issued" | "failed";
export type CertificateSource = "acme" | "manual";

/** A host name's certificate row. `failed` may still hold the previous, serving certificate. */
export interface CertificateRecord {
  domain: string;
  source: CertificateSource;
  state: CertificateState;
  /** PEM chain, leaf first; null until one was issued. */
  cert: string | null;
  key: Secret | null;
  notBefore: Date | null;
  notAfter: Date | null;
  lastError: string | null;
  /** Failed attempts since the last success. */
  attempts: number;
  /** When to try (again): the renewal time once issued; null for manual certificates. */
  nextAttemptAt: Date | null;
}

interface Row {
  domain: string;
  source: CertificateSource;
  state: CertificateState;
  cert: string | null;
  key: Uint8Array | null;
  not_before: string | null;
  not_after: string | null;
  last_error: string | null;
  attempts: number;
  next_attempt_at: string | null;
}

const date = (text: string | null) => (text === null ? null : new Date(text));
const iso = (d: Date | null) => (d === null ? null : d.toISOString());

/** Certificates by host name; private keys AES-256-GCM encrypted, bound to their host name. */
export class Certificates {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    private readonly cipher: Cipher,
  ) {}

  get(domain: string): CertificateRecord | null {
    const row = this.db.query("SELECT * FROM certificates WHERE domain = ?").get(domain) as Row | null;
    return row ? this.#toRecord(row) : null;
  }

  all(): CertificateRecord[] {
    return (this.db.query("SELECT * FROM certificates ORDER BY domain").all() as Row[]).map((r) => this.#toRecord(r));
  }

  /** A host name that should get an ACME certificate: a pending row due now, unless there is one already. */
  want(domain: string): boolean {
    const now = isoNow(this.clock);
    return (
      this.db
        .query("INSERT INTO certificates (domain, source, state, next_attempt_at, updated_at) VALUES (?, 'acme', 'pending', ?, ?) ON CONFLICT (domain) DO NOTHING")
        .run(domain, now, now).changes > 0
    );
  }

  /** Stores a new certificate (ACME or manual) and when to renew it (null: never). */
  saveIssued(domain: string, c: { source: CertificateSource; cert: string; key: Secret; notBefore: Date; notAfter: Date; renewAt: Date | null }): void {
    this.db
      .query(
        `INSERT INTO certificates (domain, source, state, cert, key, not_before, not_after, last_error, attempts, next_attempt_at, updated_at)
         VALUES (?1, ?2, 'issued', ?3, ?4, ?5, ?6, NULL, 0, ?7, ?8)
         ON CONFLICT (domain) DO UPDATE SET source = ?2, state = 'issued', cert = ?3, key = ?4, not_before = ?5, not_after = ?6,
           last_error = NULL, attempts = 0, next_attempt_at = ?7, updated_at = ?8`,
      )
      .run(domain, c.source, c.cert, this.cipher.encrypt(c.key.reveal(), aad(domain)), c.notBefore.toISOString(), c.notAfter.toISOString(), iso(c.renewAt), isoNow(this.clock));
  }

  /** A failed attempt: the certificate held (if any) stays; the next try is at `retryAt`. */
  saveFailure(domain: string, error: string, attempts: number, retryAt: Date): void {
    this.db
      .query("UPDATE certificates SET state = 'failed', last_error = ?, attempts = ?, next_attempt_at = ?, updated_at = ? WHERE domain = ?")
      .run(error.slice(0, 500), attempts, retryAt.toISOString(), isoNow(this.clock), domain);
  }

  /** Moves an ACME row's next attempt (a renewal asked for now). */
  schedule(domain: string, at: Date): void {
    this.db.query("UPDATE certificates SET next_attempt_at = ?, updated_at = ? WHERE domain = ? AND source = 'acme'").run(at.toISOString(), isoNow(this.clock), domain);
  }

  remove(domain: string): boolean {
    return this.db.query("DELETE FROM certificates WHERE domain = ?").run(domain).changes > 0;
  }

  /** ACME rows whose next attempt is due at `now`. */
  due(now: Date): string[] {
    const rows = this.db
      .query("SELECT domain FROM certificates WHERE source = 'acme' AND next_attempt_at IS NOT NULL AND next_attempt_at <= ? ORDER BY next_attempt_at")
      .all(now.toISOString()) as { domain: string }[];
    return rows.map((r) => r.domain);
  }

  /** The earliest next attempt of any ACME row, or null. */
  nextDue(): Date | null {
    const row = this.db.query("SELECT MIN(next_attempt_at) AS at FROM certificates WHERE source = 'acme' AND next_attempt_at IS NOT NULL").get() as { at: string | null };
    return date(row.at);
  }

  #toRecord(row: Row): CertificateRecord {
    return {
      domain: row.domain,
      source: row.source,
      state: row.state,
      cert: row.cert,
      key: row.key === null ? null : new Secret(this.cipher.decrypt(row.key, aad(row.domain))),
      notBefore: date(row.not_before),
      notAfter: date(row.not_after),
      lastError: row.last_error,
      attempts: row.attempts,
      nextAttemptAt: date(row.next_attempt_at),
    };
  }
}

const aad = (domain: string) => `certificate:${domain}`;
