export { AcmeIssuer, LETS_ENCRYPT, type AcmeOptions, type Issuer } from "./acme.ts";
export { CHALLENGE_PATH, Challenges } from "./challenges.ts";
export { type CertificateStatus, TlsManager, type TlsManagerOptions } from "./manager.ts";
export { certificateInfo, covers, keyMatches } from "./pem.ts";
export { DEFAULT_BACKOFF, renewAt, retryDelay, type Backoff } from "./renewal.ts";
