export { build, DEFAULT_BUILD_TIMEOUT_MS, DEFAULT_MAX_SLUG_BYTES } from "./build.ts";
export { BUILTIN_ELIXIR } from "./builtin.ts";
export { BuildError, type BuildFailure, type BuildOptions, type BuildResult, type Slug, type UpgradePackage } from "./types.ts";
