#!/bin/sh
# Installs Beamstalk on a Linux host. Two ways, both idempotent:
#
#   curl -fsSL <server>/install.sh | sh     downloads the binary (BEAMSTALK_DOWNLOAD_URL overrides where from)
#   ./install.sh                            from a checkout: builds the binary from source
#
# It installs Docker from the distribution's packages when missing and starts it,
# puts the binary in /usr/local/bin, creates the data directory, and, when systemd
# runs, writes and starts beamstalk.service. Without systemd it starts nothing and
# says how to run the server.
#
# Settings (environment):
#   BEAMSTALK_DOWNLOAD_URL  where to download the binary from
#   BEAMSTALK_BIN_DIR       where to install it            (default /usr/local/bin)
#   BEAMSTALK_DATA_DIR      the server's data directory    (default /var/lib/beamstalk)
#   BEAMSTALK_SKIP_DOCKER   1: do not install or start Docker
set -eu

BIN_DIR="${BEAMSTALK_BIN_DIR:-/usr/local/bin}"
DATA_DIR="${BEAMSTALK_DATA_DIR:-/var/lib/beamstalk}"
UNIT_PATH=/etc/systemd/system/beamstalk.service

say() { printf '%s\n' "beamstalk-install: $*" >&2; }
die() { say "error: $*"; exit 1; }

case "$DATA_DIR$BIN_DIR" in
  *[!A-Za-z0-9/._-]*) die "BEAMSTALK_DATA_DIR and BEAMSTALK_BIN_DIR may hold only letters, digits and / . _ -" ;;
esac
case "$DATA_DIR" in /*) ;; *) die "BEAMSTALK_DATA_DIR must be an absolute path" ;; esac

[ "$(uname -s)" = Linux ] || die "Beamstalk runs on Linux hosts"
if [ "$(id -u)" != 0 ]; then
  [ -w "$BIN_DIR" ] && mkdir -p "$DATA_DIR" 2>/dev/null || die "run as root (sudo sh install.sh)"
fi

have() { command -v "$1" >/dev/null 2>&1; }
systemd_running() { [ -d /run/systemd/system ]; }

install_packages() {
  if have apt-get; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
  elif have dnf; then dnf install -y -q "$@"
  elif have yum; then yum install -y -q "$@"
  else die "no apt-get, dnf or yum: install $* by hand, then run this again"
  fi
}

# --- Docker -------------------------------------------------------------------
ensure_docker() {
  if [ "${BEAMSTALK_SKIP_DOCKER:-0}" = 1 ]; then say "Docker: skipped (BEAMSTALK_SKIP_DOCKER=1)"; return; fi
  if ! have docker || ! have dockerd; then
    say "Docker: installing from the distribution's packages"
    if have apt-get; then install_packages docker.io; else install_packages docker; fi
  fi
  if docker info >/dev/null 2>&1; then say "Docker: running"; return; fi
  if systemd_running; then
    systemctl enable --now docker >/dev/null 2>&1 || die "could not start Docker: systemctl status docker"
  else
    say "Docker: starting dockerd (no systemd here; its log is /var/log/dockerd.log)"
    nohup dockerd >/var/log/dockerd.log 2>&1 &
  fi
  i=0
  until docker info >/dev/null 2>&1; do
    i=$((i + 1)); [ "$i" -le 60 ] || die "Docker did not start within 30 s: see /var/log/dockerd.log"
    sleep 0.5
  done
  say "Docker: running"
}

# --- The binary ---------------------------------------------------------------
arch() {
  case "$(uname -m)" in
    x86_64 | amd64) echo x64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) die "unsupported CPU $(uname -m)" ;;
  esac
}

# Prints the directory of a checkout this script runs from, if it does.
checkout_dir() {
  case "$0" in */install.sh | install.sh) ;; *) return 1 ;; esac
  dir=$(cd "$(dirname "$0")" 2>/dev/null && pwd) || return 1
  [ -f "$dir/package.json" ] && [ -f "$dir/src/main.ts" ] && [ -f "$dir/build.ts" ] && echo "$dir"
}

build_from_source() {
  src=$1 out=$2
  have npm || { say "Node.js and npm are needed to build from source: installing"; install_packages nodejs npm; }
  say "building from source in $src"
  (cd "$src" && { [ -x node_modules/.bin/bun ] || npm install --no-audit --no-fund >/dev/null; } &&
    node_modules/.bin/bun build.ts) || die "build failed"
  cp "$src/dist/beamstalk" "$out"
}

download() {
  url=$1 out=$2
  say "downloading $url"
  if have curl; then curl -fsSL --retry 3 -o "$out" "$url" || die "download failed: $url"
  elif have wget; then wget -q -O "$out" "$url" || die "download failed: $url"
  else die "curl or wget is needed to download Beamstalk"
  fi
}

install_binary() {
  mkdir -p "$BIN_DIR"
  tmp="$BIN_DIR/.beamstalk.new.$$"
  trap 'rm -f "$tmp"' EXIT
  if src=$(checkout_dir); then
    build_from_source "$src" "$tmp"
  else
    download "${BEAMSTALK_DOWNLOAD_URL:-https://github.com/beamstalk/beamstalk/releases/latest/download/beamstalk-linux-$(arch)}" "$tmp"
  fi
  chmod 0755 "$tmp"
  version=$("$tmp" --version 2>/dev/null) || die "the new binary does not run on this host"
  mv -f "$tmp" "$BIN_DIR/beamstalk"
  trap - EXIT
  say "installed $BIN_DIR/beamstalk $version"
}

# --- Service ------------------------------------------------------------------
install_service() {
  mkdir -p "$DATA_DIR"
  chmod 0700 "$DATA_DIR"
  if systemd_running; then
    "$BIN_DIR/beamstalk" systemd-unit --binary "$BIN_DIR/beamstalk" --data-dir "$DATA_DIR" >"$UNIT_PATH.new"
    mv -f "$UNIT_PATH.new" "$UNIT_PATH"
    systemctl daemon-reload
    systemctl enable beamstalk >/dev/null 2>&1
    if systemctl is-active --quiet beamstalk; then
      # Running already: hand over to the new binary (beamstalk upgrade), no request dropped.
      systemctl reload beamstalk || systemctl restart beamstalk
      say "systemd: beamstalk.service handed over to the new binary; logs: journalctl -u beamstalk"
    else
      systemctl restart beamstalk
      say "systemd: beamstalk.service enabled and started; logs: journalctl -u beamstalk"
    fi
    RUN_HINT="it is running now (systemctl status beamstalk)"
  elif "$BIN_DIR/beamstalk" version --socket "$DATA_DIR/beamstalk.sock" >/dev/null 2>&1; then
    # No systemd, but a daemon answers on this data directory: hand it over to the new binary.
    "$BIN_DIR/beamstalk" upgrade --socket "$DATA_DIR/beamstalk.sock" || die "the running daemon did not hand over (it keeps serving the old version)"
    say "the running daemon handed over to $BIN_DIR/beamstalk (no request dropped)"
    RUN_HINT="it is running now ($BIN_DIR/beamstalk version --socket $DATA_DIR/beamstalk.sock)"
  else
    say "systemd is not running here: nothing was started"
    RUN_HINT="start it with: $BIN_DIR/beamstalk server --data-dir $DATA_DIR"
  fi
}

ensure_docker
install_binary
install_service

cat >&2 <<EOF

Beamstalk is installed.
  1. The server: $RUN_HINT
  2. Claim the admin account, on this host:
       beamstalk signup --url http://<this-host> --socket $DATA_DIR/beamstalk.sock
  3. Invite your team:  beamstalk invites:create dev@example.com
  4. Create an app:     beamstalk apps:create   (inside your app's git repository)
EOF
