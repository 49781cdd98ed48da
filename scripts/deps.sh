#!/usr/bin/env bash
# Installs what the lab and the tests need (redis-server, haproxy) with apt-get when they are missing.
# Sourced by scripts/test.sh and scripts/rehearse.sh; safe to run again.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
# apt_install PACKAGE...: installs the packages named (none: nothing to do), without asking.
apt_install() {
  [ $# -gt 0 ] || return 0
  echo "installing: $*"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq </dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" </dev/null >/dev/null
}
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
apt_install "${need[@]}"
# Debian starts a redis-server service on 6379 when it installs the package; the lab uses its own ports, so
# that service is left alone.
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust 1.88 or newer (https://rustup.rs), then run this again" >&2
  exit 2
fi
