import { join } from "node:path";
import type { Runner, SlugUrl } from "../runner/types.ts";
import type { App, Release } from "../state/index.ts";
import type { SlugTokens } from "../state/slug-tokens.ts";
import { DeployError } from "./errors.ts";

/** What deciding where a container gets its slug takes. */
export interface SlugSourceDeps {
  runner: Pick<Runner, "slugDelivery">;
  tokens: SlugTokens;
  /** `<dataDir>/slugs`. */
  slugsDir: string;
  /** The base URL replicas reach the controller's API at (--controller-url); read when a spec is made. */
  controllerUrl?: () => string;
}

/**
 * The one place that decides how a replica or job of a release gets its slug:
 * always the controller's path (a one-host runner mounts it); with a runner that
 * delivers by URL, also the controller's URL for it and the release's token.
 */
export function slugSource(deps: SlugSourceDeps, app: App, release: Pick<Release, "version" | "slug">): { slugPath: string; slugUrl?: SlugUrl } {
  if (!release.slug) throw new DeployError(`v${release.version} has no build to run`);
  const slugPath = join(deps.slugsDir, app.name, `${release.slug}.tar.gz`);
  if (deps.runner.slugDelivery === "mount") return { slugPath };
  const base = deps.controllerUrl?.();
  if (!base) throw new DeployError("replicas fetch their slug from the controller, but no controller URL is set (--controller-url, BEAMSTALK_CONTROLLER_URL)");
  const url = `${base.replace(/\/+$/, "")}/internal/slugs/${app.name}/${release.version}`;
  return { slugPath, slugUrl: { url, token: deps.tokens.tokenFor(app, release.version) } };
}
