#!/usr/bin/env bash
# Installs (as root) or checks (otherwise) the Debian packages the local cluster needs.
# Usage: e2e/cluster/prereqs.sh [--check]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

# package -> a command or file that proves it is installed
declare -A PROBE=(
  [golang-go]=/usr/bin/go
  [etcd-server]=/usr/bin/etcd
  [rsync]=/usr/bin/rsync
  [jq]=/usr/bin/jq
  [golang-github-modern-go-reflect2-dev]=/usr/share/gocode/src/github.com/modern-go/reflect2/reflect2.go
  [containerd]=/usr/bin/containerd
  [runc]=/usr/sbin/runc
  [containernetworking-plugins]=/usr/lib/cni/bridge
  [iptables]=/usr/sbin/iptables
  [buildah]=/usr/bin/buildah
  [libucx0]=/usr/lib/x86_64-linux-gnu/libucp.so.0
  [ucx-utils]=/usr/bin/ucx_info
  [busybox-static]=/bin/busybox
  [gcc]=/usr/bin/gcc
  [libc6-dev]=/usr/include/stdio.h
  [make]=/usr/bin/make
  [iproute2]=/usr/sbin/ip
  [util-linux]=/usr/bin/unshare
  [conntrack]=/usr/sbin/conntrack
  [openssl]=/usr/bin/openssl
  [unzip]=/usr/bin/unzip
  [curl]=/usr/bin/curl
  [procps]=/usr/bin/pgrep
)

missing_packages() {
  local p
  for p in "${!PROBE[@]}"; do
    [[ -e "${PROBE[$p]}" ]] || echo "$p"
  done | sort
}

ensure_deb_src() {
  # Debian 12 uses deb822 sources; add a deb-src entry for bookworm main if none exists.
  if grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null; then
    return 0
  fi
  log "adding a deb-src entry for bookworm main (/etc/apt/sources.list.d/elasticmoe-src.sources)"
  cat >/etc/apt/sources.list.d/elasticmoe-src.sources <<'SRC'
# Added by ElasticMoE e2e/cluster/prereqs.sh: Kubernetes is built from Debian's source package.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  APT_UPDATED=0
}

APT_UPDATED=0
apt_update_once() {
  if [[ $APT_UPDATED == 0 ]]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null || die "apt-get update failed"
    APT_UPDATED=1
  fi
}

main() {
  local check_only=0
  case "${1:-}" in
    --check) check_only=1 ;;
    -h|--help) echo "usage: prereqs.sh [--check]   install (root) or list the missing Debian packages"; return 0 ;;
    "") ;;
    *) die "prereqs.sh: unknown argument '$1' (see --help)" ;;
  esac
  local missing
  missing="$(missing_packages | tr '\n' ' ')"
  local need_src=0
  grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null || need_src=1
  if [[ -z "${missing// }" && $need_src == 0 ]]; then
    return 0
  fi
  if [[ $check_only == 1 || $EUID -ne 0 ]]; then
    [[ -n "${missing// }" ]] && err "missing Debian packages: $missing" && err "install them with: apt-get install -y $missing"
    [[ $need_src == 1 ]] && err "no deb-src entry in /etc/apt/sources (needed to fetch the kubernetes source package)"
    return 1
  fi
  ensure_deb_src
  apt_update_once
  if [[ -n "${missing// }" ]]; then
    log "installing Debian packages: $missing"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null \
      || die "apt-get install failed for: $missing"
  fi
  local left
  left="$(missing_packages | tr '\n' ' ')"
  [[ -z "${left// }" ]] || die "still missing after apt-get install: $left"
}

main "$@"
