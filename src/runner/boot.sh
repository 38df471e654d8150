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
# Procfile command), optional BEAMSTALK_SLUG (default /beamstalk/slug.tar.gz, a
# read-only bind mount). With BEAMSTALK_SLUG_URL set (replicas on other hosts) the slug
# is downloaded from the controller instead, showing BEAMSTALK_SLUG_TOKEN; then it is
# checked and unpacked exactly like a mounted one. Every line this script writes starts
# with "beamstalk-boot: "; the runner waits for the "starting process" line and reports
# the "error:" line. It never prints the environment, the token or a URL's query.
set -euo pipefail

APP_DIR=/app
APP_UID=1000
SLUG=${BEAMSTALK_SLUG:-/beamstalk/slug.tar.gz}
UNPACKED_MARK=/var/lib/beamstalk/unpacked
NODE_ENV_FILE=/var/lib/beamstalk/node.env
FETCHED_SLUG=/var/lib/beamstalk/slug.tar.gz
# Bounds of a download: the whole of it, retries included, stays inside the runner's
# boot timeout (60 s by default), so a controller that is down gives this script's
# error, not the runner's timeout.
SLUG_FETCH_SECONDS=${BEAMSTALK_SLUG_FETCH_SECONDS:-40}
SLUG_MAX_BYTES=${BEAMSTALK_SLUG_MAX_BYTES:-$((4 * 1024 * 1024 * 1024))}

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

# The URL as it may be printed: no user info, no query, no fragment.
shown_url() {
  local url=${1%%[?#]*}
  if [[ $url =~ ^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@(.*)$ ]]; then url=${BASH_REMATCH[1]}${BASH_REMATCH[2]}; fi
  printf '%s' "$url"
}

# Milliseconds since the epoch (EPOCHREALTIME: bash 5; its separator follows the locale).
now_ms() {
  local t=${EPOCHREALTIME/[.,]/}
  echo $((10#$t / 1000))
}

# One download attempt to $FETCHED_SLUG within $1 seconds; prints "<http status> <curl's
# error message>" and returns curl's exit code. The token reaches curl as a config on
# stdin, never in argv (which any process in the container may read). No redirect is
# followed: the token is for the controller only. The file-size limit stops a body
# longer than it says (or one that says nothing) where --max-filesize cannot.
fetch_once() {
  local seconds=$1
  (
    ulimit -f $(((SLUG_MAX_BYTES + 1023) / 1024 + 1))
    printf 'header = "Authorization: Bearer %s"\n' "$BEAMSTALK_SLUG_TOKEN" |
      curl --config - --silent --show-error --fail --proto =http,https --proto-redir =http,https \
        --connect-timeout 5 --max-time "$seconds" --max-filesize "$SLUG_MAX_BYTES" \
        --write-out '%{http_code} %{errormsg}' --output "$FETCHED_SLUG" --stderr /dev/null -- "$BEAMSTALK_SLUG_URL"
  )
}

# Downloads the release's slug, retrying with backoff what may pass (connection refused or
# reset, timeouts, 408, 429, 5xx) until SLUG_FETCH_SECONDS are used; what will not pass
# (any other 4xx: a wrong token or a slug that is gone, too large, a bad URL) fails at once.
fetch_slug() {
  local url=$BEAMSTALK_SLUG_URL shown
  shown=$(shown_url "$url")
  [[ $url =~ ^https?://[^[:space:]]+$ ]] || fail "BEAMSTALK_SLUG_URL is not an http(s) URL: $shown"
  [[ -n ${BEAMSTALK_SLUG_TOKEN:-} ]] || fail "BEAMSTALK_SLUG_TOKEN is empty: the controller gives a slug only to the holder of its token"
  [[ $BEAMSTALK_SLUG_TOKEN =~ ^[A-Za-z0-9._~+/=-]+$ ]] || fail "BEAMSTALK_SLUG_TOKEN holds characters no slug token has"
  [[ $SLUG_FETCH_SECONDS =~ ^[1-9][0-9]{0,4}$ ]] || fail "BEAMSTALK_SLUG_FETCH_SECONDS must be a whole number of seconds"
  [[ $SLUG_MAX_BYTES =~ ^[1-9][0-9]{0,14}$ ]] || fail "BEAMSTALK_SLUG_MAX_BYTES must be a whole number of bytes"
  mkdir -p "$(dirname "$FETCHED_SLUG")"
  say "fetching slug from $shown"
  # A millisecond clock: bash's $SECONDS counts whole seconds from the shell's start, so a
  # budget measured with it came out a second short or long depending on when the boot began.
  local began deadline attempt=0 delay=1 result code status why left
  began=$(now_ms)
  deadline=$((began + SLUG_FETCH_SECONDS * 1000))
  while :; do
    attempt=$((attempt + 1))
    code=0
    left=$(((deadline - $(now_ms)) / 1000))
    result=$(fetch_once $((left > 1 ? left : 1))) || code=$?
    status=${result%% *}
    why=${result#* }
    # Quoted replacements: bash 5.2 would put the match (the whole URL) for an '&' in them.
    why=${why//"$BEAMSTALK_SLUG_URL"/"$shown"}
    why=${why//"$BEAMSTALK_SLUG_TOKEN"/"[REDACTED]"}
    if ((code == 0)); then
      [[ $status == 200 ]] || fail "the controller answered HTTP $status for the slug at $shown (redirects are not followed)"
      break
    fi
    case $code in
      63 | 153) fail "the slug at $shown is larger than $SLUG_MAX_BYTES bytes (BEAMSTALK_SLUG_MAX_BYTES)" ;;
      23) fail "writing the slug from $shown to $FETCHED_SLUG failed: ${why:-curl exit 23}" ;;
      1 | 3) fail "cannot fetch the slug at $shown: ${why:-curl exit $code}" ;;
      22)
        if [[ $status != 408 && $status != 429 && $status != 5* ]]; then
          fail "the controller refused the slug at $shown: HTTP $status (a wrong or missing token, or no such release)"
        fi
        why="HTTP $status"
        ;;
    esac
    if (($(now_ms) + delay * 1000 >= deadline)); then
      fail "could not fetch the slug from $shown in $((($(now_ms) - began + 500) / 1000)) s ($attempt attempts): ${why:-curl exit $code}"
    fi
    say "fetching the slug failed (${why:-curl exit $code}); retrying in $delay s"
    sleep "$delay"
    delay=$((delay * 2 > 8 ? 8 : delay * 2))
  done
  local bytes
  [[ -e $FETCHED_SLUG ]] || : >"$FETCHED_SLUG" # curl writes no file for an empty body
  bytes=$(stat -c %s -- "$FETCHED_SLUG")
  ((bytes <= SLUG_MAX_BYTES)) || fail "the slug at $shown is larger than $SLUG_MAX_BYTES bytes (BEAMSTALK_SLUG_MAX_BYTES)"
  say "fetched slug ($bytes bytes) in $((($(now_ms) - began + 500) / 1000)) s"
  SLUG=$FETCHED_SLUG
}

unpack() {
  if [[ -n ${BEAMSTALK_SLUG_URL:-} ]]; then fetch_slug; fi
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
  rm -f -- "$FETCHED_SLUG"
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
  # The app never needs it: its slug is unpacked (a restart keeps /app).
  unset BEAMSTALK_SLUG_TOKEN
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
