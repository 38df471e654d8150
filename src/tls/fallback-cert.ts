import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exec } from "../lib/exec.ts";

/**
 * A self-signed certificate for clients that send no SNI or a name we hold no
 * certificate for: they get this one, which names no app. Made with openssl
 * (argv only) in a private temporary directory; null when openssl is missing.
 */
export async function selfSignedFallback(commonName = "beamstalk.invalid"): Promise<{ cert: string; key: string } | null> {
  const dir = mkdtempSync(join(tmpdir(), "beamstalk-tls-"));
  try {
    const keyFile = join(dir, "key.pem");
    const certFile = join(dir, "cert.pem");
    const argv = [
      "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", keyFile, "-out", certFile, "-days", "3650", "-subj", `/CN=${commonName}`,
    ];
    const result = await exec(argv, { timeoutMs: 20_000 }).catch(() => null);
    if (!result || result.code !== 0) return null;
    return { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
