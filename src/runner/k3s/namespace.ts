import type { V1Namespace } from "@kubernetes/client-node";
import { BeamstalkError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/logger.ts";
import { LABEL } from "../docker/spec.ts";
import { appObjects } from "./app-objects.ts";
import type { Kube } from "./kube.ts";
import { namespaceName } from "./names.ts";

/**
 * An app's namespace is Beamstalk's only if it carries Beamstalk's labels for
 * that app (and the installation's own): a namespace of the same name made by
 * someone else is never written to, and nothing in it changes.
 */
export function checkNamespace(ns: V1Namespace, app: string, extra: Record<string, string> = {}): void {
  const labels = ns.metadata?.labels ?? {};
  const name = ns.metadata?.name ?? namespaceName(app);
  const ours = labels[LABEL.managed] === "true" && labels[LABEL.app] === app && Object.entries(extra).every(([k, v]) => labels[k] === v);
  if (!ours) {
    throw new BeamstalkError(
      "conflict",
      `namespace ${name} exists and is not Beamstalk's for app ${app} (it lacks the labels ${LABEL.managed}=true, ${LABEL.app}=${app}${Object.keys(extra).length ? " and this server's own" : ""})`,
      `Beamstalk leaves it alone: remove or rename it (kubectl delete namespace ${name}), or give the app another name`,
    );
  }
  if (ns.status?.phase === "Terminating") {
    throw new BeamstalkError("conflict", `namespace ${name} is being removed (the app was destroyed a moment ago)`, "try again once `kubectl get namespace " + name + "` no longer finds it");
  }
}

/** Checks the namespace (when it exists), then applies the app's objects in order. */
export async function ensureAppObjects(kube: Kube, logger: Logger, app: string, o: { podCidrs: readonly string[]; routerCidrs?: readonly string[]; bootScript: string; labels: Record<string, string> }): Promise<void> {
  const objects = appObjects(app, o);
  const name = namespaceName(app);
  const existing = await kube.orNull(kube.core.readNamespace({ name }), `reading namespace ${name}`);
  if (existing) checkNamespace(existing, app, o.labels);
  for (const object of objects) await kube.apply(object);
  logger.info("runner.app.ready", { app, namespace: name, created: !existing });
}
