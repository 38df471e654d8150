import { createHash } from "node:crypto";
import type { AuthContext } from "ssh2";
import { utils } from "ssh2";
import type { GitUser } from "../git/access.ts";

/** Same format as src/state/ssh-keys.ts: "SHA256:" + unpadded base64 of sha256(public key blob). */
export function fingerprintOf(blob: Buffer): string {
  return "SHA256:" + createHash("sha256").update(blob).digest("base64").replace(/=+$/, "");
}

/**
 * Public-key authentication only. A key query (no signature) is answered
 * "yes" only for a registered key; a signed attempt must verify. Calls
 * onUser with the user behind the key when the client has proved it holds it.
 */
export function authenticate(
  ctx: AuthContext,
  userForFingerprint: (fingerprint: string) => GitUser | null,
  onUser: (user: GitUser, fingerprint: string) => void,
): void {
  if (ctx.method !== "publickey") return ctx.reject(["publickey"]);
  const fingerprint = fingerprintOf(ctx.key.data);
  const user = userForFingerprint(fingerprint);
  if (!user) return ctx.reject(["publickey"]);
  if (!ctx.signature || !ctx.blob) return ctx.accept();
  const key = utils.parseKey(ctx.key.data);
  if (key instanceof Error || Array.isArray(key) || key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) {
    return ctx.reject(["publickey"]);
  }
  onUser(user, fingerprint);
  ctx.accept();
}
