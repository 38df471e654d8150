#!/bin/bash
# Beamstalk replica boot (PID 1's child under tini; mounted read-only at /beamstalk/boot).
#
#   stage 1 (root):   unpack the slug into /app once per container, refusing absolute
#                     paths, '..' and symlinks that point outside /app; then drop to the
#                     app user and run stage 2.
#   stage 2 (app):    HOME=/app, source /app/.profile.d/*.sh, cd /app, exec the process
#                     command with bash -c, as Heroku runs Procfile commands.
#
# `boot --exec CMD ARGS...` (one-off jobs) execs that argv as given instead: no shell
# interprets it, so quotes, spaces, `$(...)` and ';' arrive as literal arguments.
#
# Input is the container's environment, set by the runner: BEAMSTALK_COMMAND (the
# Procfile command), optional BEAMSTALK_SLUG (default /beamstalk/slug.tar.gz). Every
# line this script writes starts with "beamstalk-boot: "; the runner waits for the
# "starting process" line and reports the "error:" line. It never prints the environment.
set -euo pipefail

APP_DIR=/app
APP_UID=1000
SLUG=${BEAMSTALK_SLUG:-/beamstalk/slug.tar.gz}
UNPACKED_MARK=/var/lib/beamstalk/unpacked
NODE_ENV_FILE=/var/lib/beamstalk/node.env

say() { echo "beamstalk-boot: $*" >&2; }
fail() {
  echo "beamstalk-boot: error: $*" >&2
  exit 78
}

# True when a link at $1 (a path relative to the slug root) pointing to $2 stays inside /app.
link_stays_inside() {
  local rel=$1 target=$2 resolved
  if [[ $target == /* ]]; then
    resolved=$(realpath -m -s -- "$target")
  else
    resolved=$(realpath -m -s -- "$APP_DIR/$(dirname -- "$rel")/$target")
  fi
  [[ $resolved == "$APP_DIR" || $resolved == "$APP_DIR"/* ]]
}

unpack() {
  [[ -e $SLUG ]] || fail "slug not found at $SLUG (was the release's slug removed?)"
  [[ -f $SLUG && -r $SLUG ]] || fail "slug at $SLUG is not a readable file"
  gzip -t -- "$SLUG" 2>/dev/null || fail "slug at $SLUG is not a valid gzip archive"

  local names
  names=$(tar -tzf "$SLUG" 2>/dev/null) || fail "slug at $SLUG is not a valid tar archive"
  if grep -qE '^/' <<<"$names"; then fail "slug holds an absolute path: $(grep -m1 -E '^/' <<<"$names")"; fi
  if grep -qE '(^|/)\.\.(/|$)' <<<"$names"; then fail "slug holds a '..' path: $(grep -m1 -E '(^|/)\.\.(/|$)' <<<"$names")"; fi

  local tmp
  tmp=$(mktemp -d /app.unpack.XXXXXX)
  local out
  out=$(tar -xzf "$SLUG" -C "$tmp" --no-same-owner --delay-directory-restore 2>&1) || fail "unpacking $SLUG failed: ${out//$'\n'/; }"

  local link rel
  while IFS= read -r -d '' link; do
    rel=${link#"$tmp"/}
    link_stays_inside "$rel" "$(readlink -- "$link")" || fail "slug holds a symlink leaving $APP_DIR: $rel -> $(readlink -- "$link")"
  done < <(find "$tmp" -type l -print0)

  rm -rf "$APP_DIR"
  mv -- "$tmp" "$APP_DIR"
  chmod 0755 "$APP_DIR"
  chown -R "$APP_UID:$APP_UID" "$APP_DIR"
  mkdir -p "$(dirname "$UNPACKED_MARK")"
  : >"$UNPACKED_MARK"
  say "unpacked slug into $APP_DIR ($(wc -l <<<"$names") entries)"
}

stage_root() {
  if [[ ${1:-} == --exec ]]; then
    (($# > 1)) || fail "--exec needs a command to run"
  else
    [[ -n ${BEAMSTALK_COMMAND:-} ]] || fail "BEAMSTALK_COMMAND is empty: no process command to run"
  fi
  # A restarted container keeps its /app: a hot upgrade lives there (DESIGN §2).
  if [[ -e $UNPACKED_MARK ]]; then say "slug already unpacked (container restart)"; else unpack; fi
  grep -q "^app:" /etc/passwd || echo "app:x:$APP_UID:$APP_UID:app:$APP_DIR:/bin/bash" >>/etc/passwd
  grep -q "^app:" /etc/group || echo "app:x:$APP_UID:" >>/etc/group
  if [[ -z ${MY_POD_IP:-} ]]; then
    local ip names
    while read -r ip names; do
      if [[ " $names " == *" $HOSTNAME "* ]]; then export MY_POD_IP=$ip; break; fi
    done </etc/hosts
  fi
  # A replica's node is `<app>@<its IP on the app's network>`: what `<app>.internal`
  # resolves to, so libcluster's DNS polling, dns_cluster and a Node.connect loop find
  # it by address. Only the container knows its IP; commands run later in it (rpc,
  # remote, the health check) read the same name from NODE_ENV_FILE. Jobs keep theirs.
  if [[ ${1:-} != --exec && -n ${MY_POD_IP:-} && -n ${BEAMSTALK_APP:-} ]]; then
    export RELEASE_NODE="$BEAMSTALK_APP@$MY_POD_IP" MY_NODE_NAME="$BEAMSTALK_APP@$MY_POD_IP"
    mkdir -p "$(dirname "$NODE_ENV_FILE")"
    printf 'export MY_POD_IP=%q RELEASE_NODE=%q MY_NODE_NAME=%q\n' "$MY_POD_IP" "$RELEASE_NODE" "$MY_NODE_NAME" >"$NODE_ENV_FILE.tmp"
    chmod 0644 "$NODE_ENV_FILE.tmp"
    mv -f -- "$NODE_ENV_FILE.tmp" "$NODE_ENV_FILE"
    say "node $RELEASE_NODE"
  fi
  export HOME=$APP_DIR USER=app
  exec setpriv --reuid="$APP_UID" --regid="$APP_UID" --clear-groups -- /bin/bash "$0" --as-app "$@"
}

stage_app() {
  # Kept aside: .profile.d scripts are sourced here and must neither see nor shift it.
  local -a __beamstalk_argv=("$@")
  set --
  cd "$APP_DIR"
  set +eu
  local f
  for f in "$APP_DIR"/.profile.d/*.sh; do
    if [[ -r $f ]]; then . "$f"; fi
  done
  say "starting process"
  if [[ ${__beamstalk_argv[0]:-} == --exec ]]; then exec -- "${__beamstalk_argv[@]:1}"; fi
  # The app's node listens for distribution on one known port (DIST_PORT in ports.ts),
  # which `ps:observer` forwards over SSH. Only the process command gets it: `bin/<app>
  # rpc` and `remote`, run later through docker exec, take free ports. ERL_ZFLAGS come
  # last on erl's command line, and the first -kernel setting wins: a release that sets
  # its own range on the command line (vm.args, ERL_AFLAGS) keeps it; a range set only in
  # config (sys.config) is overridden, as command-line -kernel flags beat sys.config.
  export ERL_ZFLAGS="${ERL_ZFLAGS:+$ERL_ZFLAGS }-kernel inet_dist_listen_min 9100 inet_dist_listen_max 9100"
  exec /bin/bash -c "$BEAMSTALK_COMMAND"
}

if [[ ${1:-} == --as-app ]]; then
  shift
  stage_app "$@"
else
  stage_root "$@"
fi
