#!/usr/bin/env bash
# Beamstalk build driver: runs inside the build container and follows the
# Heroku buildpack API. Mounts (set up by build.ts):
#   /app                 BUILD_DIR (a copy of the app's source)
#   /cache               CACHE_DIR (persistent per app)
#   /env                 ENV_DIR (one file per config var, read-only)
#   /beamstalk/meta      mode, buildpack names (read-only)
#   /beamstalk/buildpacks/N   buildpacks in order (read-only; copied before use)
#   /out                 slug.tar.gz, release-N.yml, applied, error
# Exit codes: 10 detect failed (explicit list), 11 nothing detected,
# 12 compile failed, 13 release failed, 14 slug failed or too large.
set -uo pipefail
exec 2>&1

BUILD_DIR=/app
CACHE_DIR=/cache
ENV_DIR=/env
META=/beamstalk/meta
OUT=/out
MAX_SLUG_BYTES=${BEAMSTALK_MAX_SLUG_BYTES:-1073741824}
MODE=$(cat "$META/mode")
mapfile -t NAMES <"$META/buildpacks"

fail() {
  local code=$1
  shift
  printf '%s\n' "$*" >"$OUT/error"
  echo " !     $*"
  exit "$code"
}

prepare() {
  local i=$1 bp=/tmp/buildpacks/$1
  mkdir -p /tmp/buildpacks
  rm -rf "$bp"
  cp -a "/beamstalk/buildpacks/$i" "$bp" || fail 14 "could not copy buildpack ${NAMES[$i]}"
  [ -f "$bp/bin/compile" ] || fail 10 "${NAMES[$i]} is not a buildpack: it has no bin/compile"
  chmod +x "$bp"/bin/* 2>/dev/null || true
}

run_buildpack() {
  local i=$1 bp=/tmp/buildpacks/$1 name=${NAMES[$1]} code
  echo "-----> Compiling with ${name}"
  "$bp/bin/compile" "$BUILD_DIR" "$CACHE_DIR" "$ENV_DIR"
  code=$?
  [ "$code" -eq 0 ] || fail 12 "Push rejected, failed to compile with ${name} (bin/compile exited ${code})"
  if [ -f "$bp/bin/release" ]; then
    "$bp/bin/release" "$BUILD_DIR" >"$OUT/release-$i.yml"
    code=$?
    [ "$code" -eq 0 ] || fail 13 "${name}: bin/release exited ${code}"
  fi
  if [ -f "$bp/export" ]; then
    set +u
    # shellcheck disable=SC1090,SC1091
    source "$bp/export"
    set -u
  fi
  echo "$i" >>"$OUT/applied"
}

detect() {
  local i=$1 bp=/tmp/buildpacks/$1 label
  [ -f "$bp/bin/detect" ] || { echo "${NAMES[$i]}"; return 0; }
  label=$("$bp/bin/detect" "$BUILD_DIR") || return 1
  echo "${label:-${NAMES[$i]}}" | head -n 1
}

: >"$OUT/applied"
if [ "$MODE" = explicit ]; then
  for i in "${!NAMES[@]}"; do
    prepare "$i"
    label=$(detect "$i") || fail 10 "${NAMES[$i]}: bin/detect failed; this buildpack was listed explicitly, so the build stops (does the app have the files it expects?)"
    echo "-----> ${label} app detected"
    run_buildpack "$i"
  done
else
  chosen=
  for i in "${!NAMES[@]}"; do
    prepare "$i"
    if label=$(detect "$i"); then chosen=$i; break; fi
  done
  [ -n "$chosen" ] || fail 11 "App not compatible with any buildpack (${NAMES[*]}): no buildpack's bin/detect accepted it"
  echo "-----> ${label} app detected"
  run_buildpack "$chosen"
fi

echo "-----> Compressing slug"
rm -rf "$BUILD_DIR/.git"
tar -C "$BUILD_DIR" --sort=name --mtime=@315532800 --owner=0 --group=0 --numeric-owner -c . \
  | gzip -n -6 | head -c "$((MAX_SLUG_BYTES + 1))" >"$OUT/slug.tar.gz"
status=("${PIPESTATUS[@]}")
bytes=$(stat -c %s "$OUT/slug.tar.gz")
if [ "$bytes" -gt "$MAX_SLUG_BYTES" ]; then
  fail 14 "Slug is larger than the limit of ${MAX_SLUG_BYTES} bytes; remove large files from the build"
fi
[ "${status[0]}" -eq 0 ] && [ "${status[1]}" -eq 0 ] || fail 14 "could not create the slug (tar ${status[0]}, gzip ${status[1]})"
echo "       Done: $((bytes / 1024)) KiB"
