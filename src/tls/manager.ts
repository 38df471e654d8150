import { BeamstalkError, badRequest, conflict, notFound } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import { Secret } from "../lib/secret.ts";
import type { Certificates } from "../state/certificates.ts";
import { type Clock, systemClock } from "../state/clock.ts";
import { type AcmeOptions, AcmeIssuer, type Issuer } from "./acme.ts";
import { normalizeHost } from "../router/hostname.ts";
import { CHALLENGE_PATH, Challenges } from "./challenges.ts";
import { selfSignedFallback } from "./fallback-cert.ts";
import { HttpsListener, type HttpsListenerOptions, type SniEntry } from "./listener.ts";
import { certificateInfo, covers, keyMatches } from "./pem.ts";
import { redirectToHttps } from "./redirect.ts";
import { type Backoff, DEFAULT_BACKOFF, renewAt, retryDelay } from "./renewal.ts";

export type CertificateStateName = "none" | "pending" | "issued" | "failed";

/** What `beamstalk domains` shows per host name. */
export interface CertificateStatus {
  domain: string;
  state: CertificateStateName;
  source: "acme" | "manual" | null;
  expires_at: string | null;
  last_error: string | null;
  next_attempt_at: string | null;
}

export interface TlsManagerOptions {
  certificates: Certificates;
  logger: Logger;
  /** The HTTPS listener: address and port (0 picks one). */
  listen: { hostname: string; port: number };
  /** The router's entrance the HTTPS listener feeds: router.entrance. */
  entrance: HttpsListenerOptions["entrance"];
  /** How certificates are ordered: ACME options, or an Issuer (tests). */
  acme: AcmeOptions | { issuer: Issuer };
  /** Every host name that should have a certificate (controller host, `<app>.<base>`, custom domains); re-read by `refresh()` and each pass. */
  wanted?: () => string[];
  backoff?: Backoff;
  clock?: Clock;
  /** Orders run this many at a time. */
  concurrency?: number;
  /** New certificates are gathered this long before the HTTPS server is swapped (default 250 ms). */
  reloadDelayMs?: number;
  /** The scheduler looks at least this often (default 1 h). */
  maxSleepMs?: number;
  /** The certificate for clients without SNI or with an unknown name (default: self-signed with openssl, if present). */
  fallback?: { cert: string; key: string } | null;
}

/**
 * Automatic TLS: keeps a certificate for every wanted host name, serves them
 * by SNI on the HTTPS port, renews at two thirds of their lifetime, backs off
 * on failure while the old certificate keeps serving, and swaps new ones in
 * without a restart. The HTTP listener puts `httpFront` before the router.
 */
export class TlsManager {
  readonly challenges = new Challenges();
  readonly #opts: TlsManagerOptions;
  readonly #issuer: Issuer;
  readonly #listener: HttpsListener;
  readonly #clock: Clock;
  readonly #backoff: Backoff;
  /** Host names with a certificate being served: what the HTTP side redirects. */
  #serving = new Set<string>();
  #fallback: { cert: string; key: string } | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #reloadTimer: ReturnType<typeof setTimeout> | undefined;
  #pass: Promise<void> | undefined;
  /** Orders in flight by host name: the scheduler and `renewNow` share one order per name. */
  readonly #ordering = new Map<string, Promise<OrderOutcome>>();
  #again = false;
  #started = false;
  #stopped = false;

  constructor(options: TlsManagerOptions) {
    this.#opts = options;
    this.#clock = options.clock ?? systemClock;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#issuer = "issuer" in options.acme ? options.acme.issuer : new AcmeIssuer(options.acme, this.challenges);
    this.#listener = new HttpsListener({
      hostname: options.listen.hostname,
      port: options.listen.port,
      entrance: options.entrance,
      logger: options.logger,
    });
  }

  /** The HTTPS port once listening (it listens as soon as there is a fallback or a certificate). */
  get port(): number | undefined {
    return this.#listener.port;
  }

  /** Loads stored certificates, starts HTTPS, and begins ordering what is missing or due. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#fallback = this.#opts.fallback !== undefined ? this.#opts.fallback : await selfSignedFallback();
    this.#reloadNow();
    this.refresh();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#reloadTimer);
    await this.#pass?.catch(() => {});
    await this.#listener.stop();
  }

  /** Handing over to a successor: no more renewals here, no new connections; open ones end within `boundMs`. */
  async drain(boundMs: number): Promise<number> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#reloadTimer);
    await this.#pass?.catch(() => {});
    return this.#listener.drain(boundMs);
  }

  /** Answers ACME HTTP-01 challenges: a Response for `/.well-known/acme-challenge/…`, else null. */
  acmeChallenge = (req: Request): Response | null => this.challenges.respond(req);

  /**
   * Put before the router on the HTTP port: challenges first, then a 308 to
   * HTTPS for host names with a certificate; null means "route it as usual".
   */
  httpFront = (req: Request): Response | null => {
    const answer = this.challenges.respond(req);
    if (answer) return answer;
    const port = this.#listener.port;
    return port === undefined ? null : redirectToHttps(req, this.#serving, port);
  };

  /**
   * Whether httpFront answers requests for this host and origin-form target
   * itself (a challenge, or a redirect): the router's socket-level front then
   * hands them to the slow path, where httpFront runs.
   */
  answersHttp = (host: string, target: string): boolean =>
    target.startsWith(CHALLENGE_PATH) || (this.#listener.port !== undefined && this.#serving.has(normalizeHost(host)));

  /** Makes sure each host name has (or gets) a certificate. */
  ensure(hostnames: string[]): void {
    let added = false;
    for (const name of new Set(hostnames)) if (this.#opts.certificates.want(name)) added = true;
    if (added) this.#kick();
  }

  /** Forgets these host names' certificates (a removed domain) and stops serving them. */
  drop(hostnames: string[]): void {
    let removed = false;
    for (const name of new Set(hostnames)) if (this.#opts.certificates.remove(name)) removed = true;
    if (removed) this.#reloadSoon();
  }

  /** Re-reads `wanted`: orders what is missing, drops certificates no longer wanted. Call after domains or apps change. */
  refresh(): void {
    this.#syncWanted();
    this.#kick();
  }

  /** Each pass starts here too, so an app created or destroyed is noticed within `maxSleepMs` even if nobody calls refresh. */
  #syncWanted(): void {
    if (!this.#opts.wanted) return;
    const wanted = new Set(this.#opts.wanted());
    this.drop(this.#opts.certificates.all().map((c) => c.domain).filter((d) => !wanted.has(d)));
    for (const name of wanted) this.#opts.certificates.want(name);
  }

  /** Makes the name's ACME certificate due now; the scheduler orders it (manual ones are not renewed). */
  renew(hostname: string): void {
    const rec = this.#opts.certificates.get(hostname);
    if (!rec) throw notFound(`no certificate for ${hostname}`);
    if (rec.source === "manual") throw manualNotRenewed(hostname);
    this.#opts.certificates.schedule(hostname, this.#clock());
    this.#kick();
  }

  /**
   * `certs:renew`: orders a new certificate (with a new key) now and answers
   * when it is served, or throws `certificate_failed` with the CA's reason (the
   * certificate held so far keeps serving; the usual back-off retries it). An
   * order already in flight for the name is waited for rather than doubled.
   * After `waitMs` it gives up waiting and returns the state as it is (pending).
   * The caller checks that the name is one of the app's.
   */
  async renewNow(hostname: string, waitMs = 90_000): Promise<CertificateStatus> {
    if (!this.#started || this.#stopped) throw new BeamstalkError("unreachable", "automatic TLS is not running", "start the server with --https-port");
    const rec = this.#opts.certificates.get(hostname);
    if (rec?.source === "manual") throw manualNotRenewed(hostname);
    if (!rec) this.#opts.certificates.want(hostname);
    const order = this.#order(hostname);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([order, new Promise<null>((r) => (timer = setTimeout(() => r(null), waitMs)))]).finally(() => clearTimeout(timer));
    this.#kick(); // the pass reschedules its timer for the new renewal time
    if (outcome === null) return this.status(hostname);
    if (!outcome.ok) {
      const held = this.#opts.certificates.get(hostname)?.cert ? "; the previous certificate keeps serving" : "";
      throw new BeamstalkError("certificate_failed", `ordering a certificate for ${hostname} failed: ${outcome.error}${held}`, "check that the name's DNS points at this server and port 80 reaches it; it is retried with back-off (`beamstalk domains` shows when)");
    }
    this.#reloadImmediately(); // serve it before answering
    return this.status(hostname);
  }

  /**
   * `certs:remove`: forgets the name's certificate, manual or ACME, and stops
   * serving it. A name still wanted (a domain still on its app) gets a new
   * ACME order at once: removing a manual certificate hands the name back to
   * automatic TLS. Throws not_found when the name holds no certificate.
   */
  remove(hostname: string): CertificateStatus {
    const rec = this.#opts.certificates.get(hostname);
    if (!rec || (rec.cert === null && rec.source === "acme")) throw notFound(`${hostname} has no certificate`, "`beamstalk domains` shows each domain's certificate");
    this.#opts.certificates.remove(hostname);
    this.#opts.logger.info("tls.removed", { domain: hostname, source: rec.source });
    this.#reloadImmediately();
    this.refresh();
    return this.status(hostname);
  }

  /** Installs an uploaded certificate for the name; it serves at once and is never renewed by ACME. */
  addManual(hostname: string, certPem: string, keyPem: Secret): CertificateStatus {
    const info = certificateInfo(certPem);
    if (!keyMatches(certPem, keyPem.reveal())) throw badRequest("the private key does not match the certificate", "give the key the certificate was issued for");
    if (!covers(info, hostname)) throw badRequest(`the certificate is for ${info.names.join(", ") || "no DNS name"}, not ${hostname}`);
    if (info.notAfter.getTime() <= this.#clock().getTime()) throw badRequest(`the certificate expired at ${info.notAfter.toISOString()}`);
    this.#opts.certificates.saveIssued(hostname, { source: "manual", cert: certPem, key: keyPem, notBefore: info.notBefore, notAfter: info.notAfter, renewAt: null });
    this.#opts.logger.info("tls.manual_installed", { domain: hostname, not_after: info.notAfter.toISOString() });
    this.#reloadSoon();
    return this.status(hostname);
  }

  status(hostname: string): CertificateStatus {
    const rec = this.#opts.certificates.get(hostname);
    return {
      domain: hostname,
      state: rec?.state ?? "none",
      source: rec?.source ?? null,
      expires_at: rec?.notAfter?.toISOString() ?? null,
      last_error: rec?.lastError ?? null,
      next_attempt_at: rec?.source === "acme" ? (rec.nextAttemptAt?.toISOString() ?? null) : null,
    };
  }

  /** Runs one scheduling pass now and resolves when it is done (tests, and `refresh` callers that wait). */
  async settle(): Promise<void> {
    this.#kick();
    while (this.#pass) await this.#pass;
  }

  // ---- scheduling ----

  #kick(): void {
    if (!this.#started || this.#stopped) return;
    clearTimeout(this.#timer);
    if (this.#pass) {
      this.#again = true;
      return;
    }
    this.#pass = this.#runPass().finally(() => {
      this.#pass = undefined;
      if (this.#again) {
        this.#again = false;
        this.#kick();
      } else this.#sleep();
    });
  }

  #sleep(): void {
    if (this.#stopped) return;
    const next = this.#opts.certificates.nextDue();
    const max = this.#opts.maxSleepMs ?? 3_600_000;
    const wait = next === null ? max : Math.min(max, Math.max(0, next.getTime() - this.#clock().getTime()));
    this.#timer = setTimeout(() => this.#kick(), wait);
  }

  async #runPass(): Promise<void> {
    this.#syncWanted();
    const due = this.#opts.certificates.due(this.#clock());
    const width = Math.max(1, this.#opts.concurrency ?? 4);
    for (let i = 0; i < due.length && !this.#stopped; i += width) {
      await Promise.all(due.slice(i, i + width).map((name) => this.#order(name)));
    }
  }

  /** One order per host name at a time: a second caller gets the first one's outcome. */
  #order(hostname: string): Promise<OrderOutcome> {
    const running = this.#ordering.get(hostname);
    if (running) return running;
    const order = this.#orderOnce(hostname).finally(() => this.#ordering.delete(hostname));
    this.#ordering.set(hostname, order);
    return order;
  }

  async #orderOnce(hostname: string): Promise<OrderOutcome> {
    const { certificates, logger } = this.#opts;
    const before = certificates.get(hostname);
    if (!before || before.source !== "acme") return { ok: false, error: "no ACME certificate is wanted for this name" };
    const started = Date.now();
    const dropped = () => {
      if (this.#stopped) return true;
      const now = certificates.get(hostname);
      // Dropped meanwhile, or replaced by a manual certificate, which an ACME order must not overwrite.
      return !now || now.source !== "acme";
    };
    try {
      const { cert, key } = await this.#issuer.issue(hostname);
      if (dropped()) return { ok: false, error: "the name's certificate was removed or replaced while it was ordered" };
      const info = certificateInfo(cert);
      const renewal = renewAt(info.notBefore, info.notAfter);
      certificates.saveIssued(hostname, { source: "acme", cert, key, notBefore: info.notBefore, notAfter: info.notAfter, renewAt: renewal });
      logger.info("tls.issued", { domain: hostname, not_after: info.notAfter.toISOString(), renew_at: renewal.toISOString(), ms: Date.now() - started });
      this.#reloadSoon();
      return { ok: true };
    } catch (err) {
      const message = describe(err);
      if (dropped()) return { ok: false, error: message };
      const failures = before.state === "failed" ? before.attempts + 1 : 1;
      const delay = retryDelay(failures, this.#backoff);
      certificates.saveFailure(hostname, message, failures, new Date(this.#clock().getTime() + delay));
      logger.warn("tls.issue_failed", { domain: hostname, failures, retry_in_ms: delay, serving: before.cert !== null, error: message });
      return { ok: false, error: message };
    }
  }

  // ---- serving ----

  #reloadSoon(): void {
    if (!this.#started || this.#stopped || this.#reloadTimer) return;
    this.#reloadTimer = setTimeout(() => {
      this.#reloadTimer = undefined;
      this.#reloadNow();
    }, this.#opts.reloadDelayMs ?? 250);
  }

  /** Swaps now, folding in a swap that was about to happen (each swap costs keep-alive clients a reconnect). */
  #reloadImmediately(): void {
    if (!this.#started || this.#stopped) return;
    clearTimeout(this.#reloadTimer);
    this.#reloadTimer = undefined;
    this.#reloadNow();
  }

  #reloadNow(): void {
    if (this.#stopped) return;
    const entries: SniEntry[] = [];
    const serving = new Set<string>();
    for (const rec of this.#opts.certificates.all()) {
      if (!rec.cert || !rec.key) continue;
      entries.push({ serverName: rec.domain, cert: rec.cert, key: rec.key.reveal() });
      serving.add(rec.domain);
    }
    // The first entry answers clients without SNI or with an unknown name.
    if (this.#fallback) entries.unshift({ serverName: "beamstalk.invalid", ...this.#fallback });
    // No entries (no fallback, last certificate gone) closes the listener: nothing is left to serve or redirect to.
    if (entries.length === 0 && !this.#listener.listening) return;
    this.#listener.serve(entries);
    this.#serving = serving;
    this.#opts.logger.info("tls.serving", { certificates: serving.size, port: this.#listener.port });
  }
}

type OrderOutcome = { ok: true } | { ok: false; error: string };

function manualNotRenewed(hostname: string): BeamstalkError {
  return conflict(`${hostname} has a manual certificate, which is not renewed by ACME`, "install a new one with `beamstalk certs:add`, or `beamstalk certs:remove` it to go back to automatic certificates");
}

function describe(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s+/g, " ").slice(0, 300) || "unknown error";
}
