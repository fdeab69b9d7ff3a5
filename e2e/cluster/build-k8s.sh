#!/usr/bin/env bash
# Builds Kubernetes v1.20.2 from Debian 12's `kubernetes` source package once and caches the
# binaries under $ELASTICMOE_CACHE/k8s-v1.20.2/. Skips everything when the cache is complete.
# Usage: e2e/cluster/build-k8s.sh [--force]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

cache_complete() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$K8S_BIN/$b" ]] || return 1; done
  [[ -f "$K8S_BIN/.complete" ]]
}

main() {
  local force=0
  case "${1:-}" in
    --force) force=1 ;;
    -h|--help) echo "usage: build-k8s.sh [--force]   build Kubernetes $K8S_VERSION from Debian's source package into $K8S_BIN"; return 0 ;;
    "") ;;
    *) die "build-k8s.sh: unknown argument '$1'" ;;
  esac
  if [[ $force == 0 ]] && cache_complete; then
    log "Kubernetes $K8S_VERSION binaries cached in $K8S_BIN"
    return 0
  fi
  command -v go >/dev/null || die "go not found: apt-get install -y golang-go"
  local reflect2=/usr/share/gocode/src/github.com/modern-go/reflect2
  [[ -d $reflect2 ]] || die "$reflect2 missing: apt-get install -y golang-github-modern-go-reflect2-dev"

  local work="$EMOE_CACHE/k8s-build"
  rm -rf "$work"; mkdir -p "$work"
  local t0=$SECONDS
  log "[k8s 1/4] downloading Debian source package kubernetes=$K8S_DEB_VERSION (34 MB) into $work"
  (cd "$work" && apt-get source --download-only "kubernetes=$K8S_DEB_VERSION" >/dev/null 2>"$work/apt-source.log") \
    || (cd "$work" && apt-get source --download-only kubernetes >/dev/null 2>>"$work/apt-source.log") \
    || die "apt-get source kubernetes failed (is there a deb-src entry for bookworm main? run e2e/cluster/prereqs.sh as root); see $work/apt-source.log"
  local orig
  orig="$(ls "$work"/kubernetes_*.orig.tar.* 2>/dev/null | head -1)"
  [[ -n $orig ]] || die "no kubernetes_*.orig.tar.* in $work after apt-get source"
  log "[k8s 2/4] unpacking $(basename "$orig")"
  mkdir -p "$work/src"
  tar -xf "$orig" -C "$work/src" --strip-components=1
  [[ -f "$work/src/Makefile" ]] || die "unexpected source layout in $orig (no Makefile)"
  log "[k8s 3/4] replacing vendored modern-go/reflect2 (1.0.1 crashes Go 1.19) with $reflect2"
  rm -rf "$work/src/vendor/github.com/modern-go/reflect2"
  mkdir -p "$work/src/vendor/github.com/modern-go/reflect2"
  cp -r "$reflect2"/. "$work/src/vendor/github.com/modern-go/reflect2/"
  log "[k8s 4/4] go build of ${BINARIES[*]} (about 5-10 min on 2 cores; log: $work/make.log)"
  local what="" b
  for b in "${BINARIES[@]}"; do what+="cmd/$b "; done
  mkdir -p "$work/home" "$work/.go"
  (
    cd "$work/src"
    env CGO_ENABLED=0 GOPROXY=off GOFLAGS=-mod=vendor HOME="$work/home" GOPATH="$work/.go" \
      GOCACHE="$work/home/.cache/go-build" make WHAT="${what% }" >"$work/make.log" 2>&1
  ) &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    if kill -0 "$pid" 2>/dev/null; then
      local pkg done_bins
      pkg="$(pgrep -a compile 2>/dev/null | grep -o ' -p [^ ]*' | head -1 | sed 's/ -p //; s|k8s.io/kubernetes/||' || true)"
      done_bins="$(cd "$work/src/_output/local/bin/linux/amd64" 2>/dev/null && ls -d "${BINARIES[@]}" 2>/dev/null | tr '\n' ' ' || true)"
      log "  ... compiling ($((SECONDS - t0))s elapsed) ${pkg:+now: $pkg}${done_bins:+; done: $done_bins}"
    fi
  done
  wait "$pid" || { tail -n 30 "$work/make.log" >&2; die "Kubernetes build failed; full log: $work/make.log"; }
  local out="$work/src/_output/local/bin/linux/amd64"
  [[ -d $out ]] || out="$(dirname "$(find "$work/src/_output" -name kube-apiserver -type f | head -1)")"
  mkdir -p "$K8S_BIN"
  for b in "${BINARIES[@]}"; do
    [[ -x "$out/$b" ]] || die "build finished but $out/$b is missing; see $work/make.log"
    install -m 0755 "$out/$b" "$K8S_BIN/$b"
  done
  "$K8S_BIN/kube-apiserver" --version >"$K8S_BIN/.complete"
  log "Kubernetes built in $((SECONDS - t0))s: $(cat "$K8S_BIN/.complete"); cached in $K8S_BIN"
  rm -rf "$work"
}

main "$@"
