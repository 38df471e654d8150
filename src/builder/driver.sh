#!/usr/bin/env bash
# Beamstalk build driver: runs inside the build container and follows the
# Heroku buildpack API. Mounts (set up by build.ts):
#   /app                 BUILD_DIR (a copy of the app's source)
#   /cache               CACHE_DIR (persistent per app)
#   /env                 ENV_DIR (one file per config var, read-only)
#   /beamstalk/meta      mode, buildpack names (read-only)
#   /beamstalk/buildpacks/N   buildpacks in order (read-only; copied before use)
#   /out                 slug.tar.gz, release-N.yml, applied, error; for a hot
#                        upgrade also upgrade.tar.gz and hot ("NAME FROM TO")
#   /beamstalk/previous.tar.gz  the running release's slug (hot upgrades only)
# Exit codes: 10 detect failed (explicit list), 11 nothing detected,
# 12 compile failed, 13 release failed, 14 slug failed or too large,
# 15 no hot upgrade can be made from the running release to this one.
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

# A hot upgrade: the running release (the current slug) beside the new one, appups and a
# relup made by relup.escript, and an upgrade package holding only what changed
# (lib/APP-VSN of changed and added applications, releases/VSN, releases/NAME-VSN.rel),
# as :release_handler.unpack_release/1 expects it.
hot_upgrade() {
  local previous=/tmp/previous name old_name old new line changed=() staging
  [ -f "$BUILD_DIR/.beamstalk/release-name" ] || fail 15 "a hot upgrade needs a mix release, and this build made none"
  name=$(cat "$BUILD_DIR/.beamstalk/release-name")
  [ "$(cat "$BUILD_DIR/.beamstalk/release-start")" = start ] || fail 15 "hot upgrades work with mix releases; this is a Distillery release: push without -o hot"
  echo "-----> Preparing a hot upgrade"
  rm -rf "$previous" && mkdir -p "$previous"
  tar -xzf /beamstalk/previous.tar.gz -C "$previous" || fail 15 "could not unpack the running release's slug"
  old_name=$(cat "$previous/.beamstalk/release-name" 2>/dev/null) || fail 15 "the running release is no mix release: deploy without -o hot"
  [ "$old_name" = "$name" ] || fail 15 "the running release is ${old_name}, this build makes ${name}: a hot upgrade needs the same release"
  [ -f "$previous/releases/RELEASES" ] || fail 15 "the running release has no releases/RELEASES (it was built before hot upgrades existed): deploy once without -o hot"
  old=$(awk '{ print $2 }' "$previous/releases/start_erl.data")
  new=$(awk '{ print $2 }' "$BUILD_DIR/releases/start_erl.data")
  [ -n "$old" ] && [ -n "$new" ] || fail 15 "could not read the release versions (releases/start_erl.data)"
  [ "$old" != "$new" ] || fail 15 "the version is still ${new}: a hot upgrade needs a new version in mix.exs"
  echo "       ${name} ${old} -> ${new}"
  while IFS= read -r line; do
    case "$line" in
      "error: "*) fail 15 "no hot upgrade from ${old} to ${new}: ${line#error: }" ;;
      "changed "*) read -r -a changed <<<"${line#changed }" ;;
      "exit 0") ;;
      "exit "*) fail 15 "no hot upgrade from ${old} to ${new}: making the relup failed (${line})" ;;
      *) echo "       $line" ;;
    esac
  done < <(escript "$META/relup.escript" "$previous" "$BUILD_DIR" "$name" "$old" "$new" 2>&1; echo "exit $?")
  [ -f "$BUILD_DIR/releases/$new/relup" ] || fail 15 "no hot upgrade from ${old} to ${new}: no relup was made"
  staging=$(mktemp -d /tmp/upgrade.XXXXXX)
  mkdir -p "$staging/lib" "$staging/releases"
  for dir in "${changed[@]}"; do cp -a "$BUILD_DIR/lib/$dir" "$staging/lib/"; done
  cp -a "$BUILD_DIR/releases/$new" "$staging/releases/$new"
  cp "$BUILD_DIR/releases/$new/$name.rel" "$staging/releases/$name-$new.rel"
  # Entry names without "./": release_handler extracts releases/NAME-VSN.rel by its exact name.
  tar -C "$staging" --sort=name --owner=0 --group=0 --numeric-owner -czf "$OUT/upgrade.tar.gz" lib releases || fail 15 "could not pack the upgrade"
  rm -rf "$staging" "$previous"
  echo "$name $old $new" >"$OUT/hot"
  echo "       Upgrade package: $(($(stat -c %s "$OUT/upgrade.tar.gz") / 1024)) KiB (${changed[*]:-no application changed})"
}
if [ -f /beamstalk/previous.tar.gz ]; then hot_upgrade; fi

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
