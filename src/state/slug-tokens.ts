import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";
import { Secret } from "../lib/secret.ts";

/**
 * Per-release slug tokens: what a replica shows the controller to download its
 * release's slug (GET /internal/slugs/<app>/<release>, src/api/slugs.ts).
 *
 * Stateless, so nothing is stored, rotated or cleaned up: HMAC-SHA256 over
 * "slug:<app>:<app id>:<release>". The key is derived from master.key with HKDF,
 * so the key that encrypts config values signs nothing. The app's id is signed
 * too: a token held by a replica of a destroyed app opens nothing of a new app
 * created later under the same name. A token opens one release's slug only, and
 * slugs are immutable, so it never needs to expire.
 */
export class SlugTokens {
  readonly #key: Buffer;

  constructor(masterKey: Uint8Array) {
    if (masterKey.length !== 32) throw new Error(`master key must be 32 bytes, got ${masterKey.length}`);
    this.#key = Buffer.from(hkdfSync("sha256", masterKey, Buffer.alloc(0), "beamstalk slug tokens v1", 32));
  }

  /** The token of one release's slug. */
  tokenFor(app: { id: number; name: string }, release: number): Secret {
    return new Secret(this.#mac(app, release));
  }

  /** Compared in constant time; a token of another app or release never matches. */
  matches(app: { id: number; name: string }, release: number, presented: Secret): boolean {
    const want = Buffer.from(this.#mac(app, release));
    const given = Buffer.from(presented.reveal());
    // The length of a token is no secret (every token has the same); only equal lengths can be compared.
    return given.length === want.length && timingSafeEqual(given, want);
  }

  #mac(app: { id: number; name: string }, release: number): string {
    return createHmac("sha256", this.#key).update(`slug:${app.name}:${app.id}:${release}`).digest("base64url");
  }
}
