import * as k8s from "@kubernetes/client-node";
import { BeamstalkError } from "../../lib/errors.ts";
import { Secret } from "../../lib/secret.ts";
import type { KubeObject } from "./app-objects.ts";

/**
 * The one place that talks to the Kubernetes API (with @kubernetes/client-node):
 * loading the kubeconfig, applying objects, and turning the client's failures
 * into Beamstalk errors that say what to do.
 */

export const FIELD_MANAGER = "beamstalk";

/** --kubeconfig, else KUBECONFIG / ~/.kube/config, else the pod's service account (in-cluster). */
export function loadKubeConfig(path?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  try {
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
  } catch (err) {
    throw new BeamstalkError("bad_request", `cannot read the kubeconfig${path ? ` ${path}` : ""}: ${(err as Error).message}`, "pass --kubeconfig FILE, set KUBECONFIG, or run the server in a pod");
  }
  if (!kc.getCurrentCluster()) throw new BeamstalkError("bad_request", `the kubeconfig${path ? ` ${path}` : ""} names no current cluster`, "set current-context in it (kubectl config use-context NAME)");
  return kc;
}

export function serverOf(kc: k8s.KubeConfig): string {
  return kc.getCurrentCluster()?.server ?? "(no server)";
}

export function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "number" ? code : undefined;
}

/** The API server's own message from a Status body, when there is one. */
function statusMessage(err: unknown): string | undefined {
  const body = (err as { body?: unknown })?.body;
  if (typeof body === "string") {
    try {
      return (JSON.parse(body) as { message?: string }).message;
    } catch {
      return body.slice(0, 300) || undefined;
    }
  }
  return (body as { message?: string } | undefined)?.message;
}

const NETWORK_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "ConnectionRefused", "FailedToOpenSocket"]);

/** A failure of the client, said as what it means for the operator; Secret values are taken out of the message. */
export function kubeError(err: unknown, doing: string, server: string, secrets: readonly unknown[] = []): Error {
  if (err instanceof BeamstalkError) return err;
  const code = statusCode(err);
  const errno = (err as { code?: unknown })?.code;
  const text = (err as Error)?.message ?? String(err);
  let out: BeamstalkError;
  if (code === undefined && (NETWORK_CODES.has(String(errno)) || /Unable to connect|ECONNREFUSED|ENOTFOUND|timed out|certificate/i.test(text))) {
    out = new BeamstalkError("unreachable", `the Kubernetes API server at ${server} is not reachable while ${doing}: ${text.split("\n")[0]}`, "is the cluster up, and does the kubeconfig (--kubeconfig, KUBECONFIG) point at it?");
  } else if (code === 401) {
    out = new BeamstalkError("unauthorized", `the Kubernetes API server at ${server} refused the kubeconfig's credentials while ${doing}`, "the token or certificate in the kubeconfig is wrong or expired");
  } else if (code === 403) {
    out = new BeamstalkError("forbidden", `Kubernetes refused ${doing}: ${statusMessage(err) ?? "forbidden"}`, "give the kubeconfig's user the rights listed in the README (\"Beamstalk on k3s\")");
  } else if (code === 404) {
    out = new BeamstalkError("not_found", `Kubernetes: ${doing}: ${statusMessage(err) ?? "not found"}`);
  } else if (code === 409) {
    out = new BeamstalkError("conflict", `Kubernetes: ${doing}: ${statusMessage(err) ?? "conflict"}`);
  } else if (code === 422 || code === 400) {
    out = new BeamstalkError("bad_request", `Kubernetes refused ${doing}: ${statusMessage(err) ?? "invalid"}`);
  } else {
    out = new BeamstalkError("internal", `Kubernetes: ${doing}: ${code ? `HTTP ${code}: ` : ""}${statusMessage(err) ?? text.split("\n")[0]}`);
  }
  for (const value of secrets) {
    if (value instanceof Secret && value.reveal().length > 0) out.message = out.message.replaceAll(value.reveal(), "[REDACTED]");
  }
  return out;
}

/** The clients the runner uses, made from one kubeconfig. */
export class Kube {
  readonly config: k8s.KubeConfig;
  readonly server: string;
  readonly core: k8s.CoreV1Api;
  readonly apps: k8s.AppsV1Api;
  readonly authz: k8s.AuthorizationV1Api;
  readonly objects: k8s.KubernetesObjectApi;

  constructor(config: k8s.KubeConfig) {
    this.config = config;
    this.server = serverOf(config);
    this.core = config.makeApiClient(k8s.CoreV1Api);
    this.apps = config.makeApiClient(k8s.AppsV1Api);
    this.authz = config.makeApiClient(k8s.AuthorizationV1Api);
    this.objects = k8s.KubernetesObjectApi.makeApiClient(config);
  }

  /** Server-side apply: creates the object or brings the fields Beamstalk owns to what it says. */
  async apply(object: KubeObject, secrets: readonly unknown[] = []): Promise<void> {
    await this.objects.patch(object as k8s.KubernetesObject, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply).catch((err) => {
      throw kubeError(err, `applying ${object.kind} ${object.metadata.namespace ? `${object.metadata.namespace}/` : ""}${object.metadata.name}`, this.server, secrets);
    });
  }

  /** Runs a call; a 404 gives null. */
  async orNull<T>(call: Promise<T>, doing: string): Promise<T | null> {
    return call.catch((err) => {
      if (statusCode(err) === 404) return null;
      throw kubeError(err, doing, this.server);
    });
  }

  /** Runs a call; a 404 is success (the thing is gone already). */
  async gone(call: Promise<unknown>, doing: string): Promise<void> {
    await call.catch((err) => {
      if (statusCode(err) !== 404) throw kubeError(err, doing, this.server);
    });
  }

  fail(doing: string): (err: unknown) => never {
    return (err) => {
      throw kubeError(err, doing, this.server);
    };
  }
}
