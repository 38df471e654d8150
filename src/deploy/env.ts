import type { Secret } from "../lib/secret.ts";

export const APP_PORT = 4000;

export interface ReplicaEnvInput {
  app: string;
  /** The release's config snapshot: the app's own vars, applied last so an app can override ours. */
  config: Record<string, string>;
  secretKeyBase: Secret;
  cookie: Secret;
  /** `<app>.<base-domain>`, when the server has a base domain. */
  host?: string;
}

/**
 * The environment every replica gets (DESIGN.md §3), as data. Per-replica values
 * (RELEASE_NODE and MY_NODE_NAME, `<app>@<replica IP>`, and MY_POD_IP) depend on
 * the replica's address on the app's network, which only the container knows:
 * the boot script derives them.
 */
export function replicaEnv(input: ReplicaEnvInput): Record<string, string | Secret> {
  const { app } = input;
  return {
    PORT: String(APP_PORT),
    APP_NAME: app,
    SECRET_KEY_BASE: input.secretKeyBase,
    RELEASE_COOKIE: input.cookie,
    MY_COOKIE: input.cookie,
    RELEASE_DISTRIBUTION: "name",
    DNS_CLUSTER_QUERY: `${app}.internal`,
    LIBCLUSTER_KUBERNETES_NODE_BASENAME: app,
    LIBCLUSTER_DNS_POLL_QUERY: `${app}.internal`,
    LIBCLUSTER_NODE_BASENAME: app,
    ...(input.host ? { PHX_HOST: input.host } : {}),
    PHX_SERVER: "true",
    REPLACE_OS_VARS: "true",
    ...input.config,
  };
}
