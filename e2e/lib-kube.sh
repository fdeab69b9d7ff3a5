# Shared by e2e/test.sh and e2e/demo.sh: where the local cluster keeps its kubeconfig and Helm,
# and how the operator is installed into it.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
EMOE_STATE="${ELASTICMOE_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/elasticmoe}"
export KUBECONFIG="$EMOE_STATE/kubeconfig"
OPERATOR_NAMESPACE="${ELASTICMOE_OPERATOR_NAMESPACE:-elasticmoe-system}"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

helm_() { "$ROOT/e2e/cluster/cluster.sh" helm "$@"; }

cluster_is_up() { "$ROOT/e2e/cluster/cluster.sh" status >/dev/null 2>&1; }

# Installs or upgrades the operator chart and waits until the operator pod is Ready.
install_operator() {
  step "Installing the operator with Helm into namespace $OPERATOR_NAMESPACE"
  kubectl get namespace "$OPERATOR_NAMESPACE" >/dev/null 2>&1 || kubectl create namespace "$OPERATOR_NAMESPACE"
  helm_ upgrade --install elasticmoe "$ROOT/helm/elasticmoe" --namespace "$OPERATOR_NAMESPACE" \
    --set image.pullPolicy=Never --wait --timeout 5m
  # Helm installs CRDs only on first install; keep the CRD current on upgrades too.
  kubectl replace -f "$ROOT/crds/" >/dev/null
  kubectl -n "$OPERATOR_NAMESPACE" rollout status deployment/elasticmoe-operator --timeout=300s
}
