import { createHash } from "node:crypto";
import { EXTRA_PACKAGES, RUN_PACKAGES, STACK, type StackKind } from "./images.ts";

/**
 * The commands a stack image build runs, as data: debootstrap into a
 * directory, tar it (slimmed), pipe the tar into `docker import`.
 */
export const DEFAULT_MIRROR = "http://deb.debian.org/debian";

/** Paths left out of the image: apt lists and caches, docs, man pages, locales. */
export const TAR_EXCLUDES = [
  "./var/lib/apt/lists/*",
  "./var/cache/apt/*",
  "./var/cache/debconf/*-old",
  "./var/log/*",
  "./usr/share/doc/*",
  "./usr/share/man/*",
  "./usr/share/info/*",
  "./usr/share/locale/*",
  "./usr/share/lintian/*",
  "./debootstrap",
];

export const IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** debootstrap takes no `--`; the directory must be absolute and the mirror a URL. */
export function debootstrapArgv(dir: string, mirror = DEFAULT_MIRROR): string[] {
  if (!dir.startsWith("/")) throw new Error(`debootstrap target must be an absolute path: ${dir}`);
  if (!/^(https?|file):\/\/[^\s]+$/.test(mirror)) throw new Error(`not a mirror URL: ${mirror}`);
  return [
    "debootstrap",
    "--variant=minbase",
    `--include=${RUN_PACKAGES.join(",")}`,
    STACK,
    dir,
    mirror,
  ];
}

/** Commands run after debootstrap to add the kind's extra packages (none for run). */
export function extraPackageSteps(kind: StackKind, dir: string): string[][] {
  return aptGetSteps(EXTRA_PACKAGES[kind], dir);
}

/** apt-get update, install the packages (no recommends), clean: in a chroot of dir. None for no packages. */
export function aptGetSteps(packages: readonly string[], dir: string): string[][] {
  if (packages.length === 0) return [];
  const aptGet = ["chroot", dir, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-y"];
  return [
    [...aptGet, "update"],
    [...aptGet, "--no-install-recommends", "install", "--", ...packages],
    [...aptGet, "clean"],
  ];
}

export function tarArgv(dir: string): string[] {
  return [
    "tar",
    "--numeric-owner",
    "--xattrs",
    ...TAR_EXCLUDES.map((pattern) => `--exclude=${pattern}`),
    "-C",
    dir,
    "-c",
    ".",
  ];
}

/** The `docker import --change` lines of an image of `kind`, before its recipe label. */
export function importChanges(kind: string, extra: readonly string[] = []): string[] {
  return [
    `ENV PATH=${IMAGE_PATH}`,
    "ENV LANG=C.UTF-8",
    "ENV LC_ALL=C.UTF-8",
    'CMD ["/bin/bash"]',
    `LABEL beamstalk.stack=${STACK}`,
    `LABEL beamstalk.stack.kind=${kind}`,
    ...extra,
  ];
}

/**
 * `kind` is the image's beamstalk.stack.kind label ("run", "build", "postgres"); `extra` adds
 * --change lines; `recipe` (see recipeHash) becomes the beamstalk.stack.recipe label.
 */
export function importArgv(kind: string, tag: string, extra: readonly string[] = [], recipe?: string): string[] {
  const changes = [...importChanges(kind, extra), ...(recipe ? [`LABEL ${RECIPE_LABEL}=${recipe}`] : [])];
  return ["docker", "import", ...changes.flatMap((change) => ["--change", change]), "-", tag];
}

/**
 * An image's tag says only its name: an install that upgrades Beamstalk keeps the
 * image an older version built. The recipe label lets ensureStackImages see that the
 * packages or import changes it would use now differ, and rebuild.
 */
export const RECIPE_LABEL = "beamstalk.stack.recipe";

/** Short sha256 of everything an image is made of besides the Debian archive's state: its package lists and import changes. */
export function recipeHash(recipe: { kind: string; packages: readonly string[]; changes?: readonly string[] }): string {
  const made = { stack: STACK, debootstrap: RUN_PACKAGES, packages: recipe.packages, changes: importChanges(recipe.kind, recipe.changes) };
  return createHash("sha256").update(JSON.stringify(made)).digest("hex").slice(0, 16);
}
