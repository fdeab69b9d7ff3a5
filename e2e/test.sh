#!/usr/bin/env bash
# The README's test command: build with unit tests, then the end-to-end tests on the local cluster.
#   bin/elasticmoe test [--unit-only] [--keep-cluster]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib-kube.sh"

unit_only=false keep=false
for arg in "$@"; do
  case "$arg" in
    --unit-only) unit_only=true ;;
    --keep-cluster) keep=true ;;
    -h | --help)
      echo "usage: bin/elasticmoe test [--unit-only] [--keep-cluster]"
      echo "  builds every module and runs the unit tests (*Test), then brings the local cluster up"
      echo "  (if it is not), installs the operator with Helm and runs the end-to-end tests (*E2E)."
      echo "  A cluster this command started is torn down at the end unless --keep-cluster."
      exit 0 ;;
    *) echo "test: unknown option $arg" >&2; exit 2 ;;
  esac
done

step "Build and unit tests (./mvnw install)"
(cd "$ROOT" && ./mvnw -B install)
$unit_only && exit 0

started=false
if ! cluster_is_up; then
  started=true
  if ! $keep; then
    trap '"$ROOT/e2e/cluster/cluster.sh" down' EXIT
  fi
  step "Starting the local cluster"
  "$ROOT/e2e/cluster/cluster.sh" up
else
  step "Local cluster is up; reloading images"
  "$ROOT/e2e/cluster/cluster.sh" images
fi
install_operator

step "End-to-end tests (./mvnw -pl e2e test -Pe2e)"
(cd "$ROOT" && ./mvnw -B -pl e2e test -Pe2e)
