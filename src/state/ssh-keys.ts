import type { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { utils } from "ssh2";
import { badRequest, conflict } from "../lib/errors.ts";
import { type Clock, isoNow } from "./clock.ts";

export interface SshKey {
  id: number;
  type: string;
  fingerprint: string;
  comment: string;
  createdAt: string;
}

export interface ParsedPublicKey {
  type: string;
  fingerprint: string;
  comment: string;
  /** Canonical `type base64 [comment]` line. */
  line: string;
}

const ALLOWED_TYPES = new Set([
  "ssh-ed25519",
  "ssh-rsa",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
]);
const RSA_MIN_BITS = 2048;

/** Parses an OpenSSH public key line with ssh2; refuses private keys, weak and unknown types. */
export function parsePublicKey(text: unknown): ParsedPublicKey {
  if (typeof text !== "string" || text.trim() === "" || text.length > 16_384) {
    throw badRequest("give an OpenSSH public key line", "such as the contents of ~/.ssh/id_ed25519.pub");
  }
  const parsed = utils.parseKey(text.trim());
  if (parsed instanceof Error || Array.isArray(parsed)) {
    throw badRequest("not a valid SSH public key", "give the one-line contents of a .pub file");
  }
  if (parsed.isPrivateKey()) {
    throw badRequest("that is a private key: never share it", "give the .pub file's contents instead");
  }
  if (!ALLOWED_TYPES.has(parsed.type)) {
    throw badRequest(`SSH key type ${parsed.type} is not accepted`, "use an ed25519 key: ssh-keygen -t ed25519");
  }
  const blob = parsed.getPublicSSH();
  if (parsed.type === "ssh-rsa" && rsaBits(blob) < RSA_MIN_BITS) {
    throw badRequest(`RSA keys must have at least ${RSA_MIN_BITS} bits`, "use an ed25519 key: ssh-keygen -t ed25519");
  }
  const fingerprint = "SHA256:" + createHash("sha256").update(blob).digest("base64").replace(/=+$/, "");
  const comment = parsed.comment.replace(/[^\x20-\x7e]/g, "").slice(0, 200);
  return { type: parsed.type, fingerprint, comment, line: `${parsed.type} ${blob.toString("base64")}${comment ? " " + comment : ""}` };
}

/** Bit length of the modulus in an ssh-rsa public blob: string type, mpint e, mpint n. */
function rsaBits(blob: Buffer): number {
  let offset = 0;
  const next = () => {
    const len = blob.readUInt32BE(offset);
    const value = blob.subarray(offset + 4, offset + 4 + len);
    offset += 4 + len;
    return value;
  };
  next();
  next();
  const n = next();
  let start = 0;
  while (start < n.length && n[start] === 0) start++;
  if (start === n.length) return 0;
  return (n.length - start - 1) * 8 + (32 - Math.clz32(n[start]!));
}

export class SshKeys {
  constructor(private readonly db: Database, private readonly clock: Clock) {}

  list(userId: number): SshKey[] {
    const rows = this.db
      .query("SELECT id, type, fingerprint, comment, created_at FROM ssh_keys WHERE user_id = ? ORDER BY id")
      .all(userId) as { id: number; type: string; fingerprint: string; comment: string; created_at: string }[];
    return rows.map((r) => ({ id: r.id, type: r.type, fingerprint: r.fingerprint, comment: r.comment, createdAt: r.created_at }));
  }

  /** A key belongs to one account only: it is how SSH tells users apart. */
  add(userId: number, key: ParsedPublicKey): SshKey {
    if (this.db.query("SELECT 1 FROM ssh_keys WHERE fingerprint = ?").get(key.fingerprint)) {
      throw conflict(`SSH key ${key.fingerprint} is already registered`, "each key can belong to one account only");
    }
    const row = this.db
      .query(
        `INSERT INTO ssh_keys (user_id, fingerprint, type, public_key, comment, created_at) VALUES (?, ?, ?, ?, ?, ?)
         RETURNING id, type, fingerprint, comment, created_at`,
      )
      .get(userId, key.fingerprint, key.type, key.line, key.comment, isoNow(this.clock)) as {
      id: number;
      type: string;
      fingerprint: string;
      comment: string;
      created_at: string;
    };
    return { id: row.id, type: row.type, fingerprint: row.fingerprint, comment: row.comment, createdAt: row.created_at };
  }

  remove(userId: number, id: number): boolean {
    return this.db.query("DELETE FROM ssh_keys WHERE id = ? AND user_id = ?").run(id, userId).changes === 1;
  }

  /** The user id owning a key, for SSH authentication. */
  ownerOf(fingerprint: string): number | null {
    const row = this.db.query("SELECT user_id FROM ssh_keys WHERE fingerprint = ?").get(fingerprint) as { user_id: number } | null;
    return row?.user_id ?? null;
  }
}
