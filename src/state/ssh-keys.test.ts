import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePublicKey } from "./ssh-keys.ts";

function keygen(type: string, bits?: number) {
  const dir = mkdtempSync(join(tmpdir(), "beamstalk-key-"));
  const file = join(dir, "id");
  const argv = ["ssh-keygen", "-q", "-t", type, "-N", "", "-C", "me@laptop", "-f", file, ...(bits ? ["-b", String(bits)] : [])];
  const res = Bun.spawnSync(argv);
  if (res.exitCode !== 0) throw new Error(res.stderr.toString());
  const fingerprint = Bun.spawnSync(["ssh-keygen", "-l", "-f", `${file}.pub`]).stdout.toString().split(" ")[1];
  return { pub: readFileSync(`${file}.pub`, "utf8"), priv: readFileSync(file, "utf8"), fingerprint };
}

describe("parsePublicKey (ssh2)", () => {
  test("ed25519: type, comment and the same fingerprint OpenSSH shows", () => {
    const key = keygen("ed25519");
    const parsed = parsePublicKey(key.pub);
    expect(parsed.type).toBe("ssh-ed25519");
    expect(parsed.comment).toBe("me@laptop");
    expect(parsed.fingerprint).toBe(key.fingerprint!);
    expect(parsed.line).toBe(key.pub.trim());
  });

  test("RSA of 3072 bits is accepted, 1024 is refused", () => {
    expect(parsePublicKey(keygen("rsa", 3072).pub).type).toBe("ssh-rsa");
    expect(() => parsePublicKey(keygen("rsa", 1024).pub)).toThrow(/at least 2048 bits/);
  });

  test("a private key is refused and not echoed", () => {
    const key = keygen("ed25519");
    try {
      parsePublicKey(key.priv);
      throw new Error("accepted a private key");
    } catch (err) {
      expect((err as Error).message).toMatch(/private key/);
      expect((err as Error).message).not.toContain("PRIVATE");
    }
  });

  test.each(["", "ssh-ed25519 AAAA", "hello", "ssh-ed25519 !!!! x"])("refuses %p", (text) => {
    expect(() => parsePublicKey(text)).toThrow();
  });
});
