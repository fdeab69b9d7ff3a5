#!/usr/bin/env bash
# The main job: a real local Kubernetes, the operator installed with Helm and running as a pod, an
# ElasticMoEDeployment applied and resized with kubectl scale.
#   bin/elasticmoe demo [--down]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib-kube.sh"

case "${1:-}" in
  -h | --help)
    echo "usage: bin/elasticmoe demo [--down]"
    echo "  builds what is missing, starts the local cluster, installs the operator, applies"
    echo "  examples/cpu-small.yaml and scales it 4 -> 6. --down tears the cluster down afterwards."
    exit 0 ;;
esac

if [[ ! -f "$ROOT/worker/target/elasticmoe-worker.jar" || ! -d "$ROOT/operator/target/quarkus-app" ]]; then
  step "Building (./mvnw install -DskipTests)"
  (cd "$ROOT" && ./mvnw -B -q install -DskipTests)
fi
step "Starting the local cluster"
"$ROOT/e2e/cluster/cluster.sh" up
install_operator

step "kubectl apply -f examples/cpu-small.yaml"
kubectl apply -f "$ROOT/examples/cpu-small.yaml"
kubectl wait emd/moe-cpu --for=condition=Failed=false --timeout=120s >/dev/null
kubectl get emd moe-cpu

step "kubectl scale emd/moe-cpu --replicas=6"
kubectl scale emd/moe-cpu --replicas=6
for _ in $(seq 1 60); do
  [[ "$(kubectl get emd moe-cpu -o jsonpath='{.status.observedGeneration}')" == \
     "$(kubectl get emd moe-cpu -o jsonpath='{.metadata.generation}')" ]] && break
  sleep 1
done
kubectl get emd moe-cpu
step "kubectl get pods -o wide -A"
kubectl get pods -o wide -A

echo
echo "The cluster stays up. Try: export KUBECONFIG=$KUBECONFIG; kubectl describe emd moe-cpu"
echo "Tear it down with: bin/elasticmoe cluster down"
if [[ "${1:-}" == "--down" ]]; then "$ROOT/e2e/cluster/cluster.sh" down; fi
