import pkg from "../package.json" with { type: "json" };

/** Set by build.ts (define); absent when run from source. */
declare const BEAMSTALK_BUILD_TAG: string | undefined;
const tag = typeof BEAMSTALK_BUILD_TAG === "string" ? BEAMSTALK_BUILD_TAG : "";

export const VERSION: string = tag ? `${pkg.version}+${tag}` : pkg.version;
