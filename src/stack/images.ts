/** Names of the stack images. One stack for now: Debian 12 (bookworm). */
export const STACK = "bookworm";
export const RUN_IMAGE = `beamstalk/run:${STACK}`;
export const BUILD_IMAGE = `beamstalk/build:${STACK}`;

export type StackKind = "run" | "build";

export const STACK_IMAGES: Record<StackKind, string> = { run: RUN_IMAGE, build: BUILD_IMAGE };

/**
 * Debian packages on top of `debootstrap --variant=minbase`. The run set goes
 * through debootstrap's `--include`; the build image's extra packages are
 * installed afterwards with apt-get in a chroot (debootstrap's own resolver
 * cannot configure npm's dependency tree).
 */
// curl: a replica on another host fetches its slug from the controller at boot (runner/boot.sh).
export const RUN_PACKAGES = ["libssl3", "ca-certificates", "postgresql-client", "curl"];
export const BUILD_EXTRA_PACKAGES = [
  "erlang-nox",
  "erlang-dev",
  "erlang-src",
  "elixir",
  "git",
  "build-essential",
  "nodejs",
  "npm",
  "curl",
];

export const EXTRA_PACKAGES: Record<StackKind, string[]> = { run: [], build: BUILD_EXTRA_PACKAGES };
