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

# Waits until the committed world (status.worldSize) has the given size; prints progress.
await_world() {
  local want=$1 world
  for _ in $(seq 1 180); do
    world=$(kubectl get emd moe-cpu -o jsonpath='{.status.worldSize}')
    [[ "$world" == "$want" ]] && return 0
    sleep 1
  done
  echo "demo: the world did not reach $want ranks within 180 s (status.worldSize=${world:-none})" >&2
  kubectl get emd moe-cpu; kubectl get pods -o wide
  return 1
}

step "kubectl apply -f examples/cpu-small.yaml"
kubectl apply -f "$ROOT/examples/cpu-small.yaml"
await_world 4
kubectl get emd moe-cpu

step "kubectl scale emd/moe-cpu --replicas=6 (the world grows without restarting ranks 0-3)"
kubectl scale emd/moe-cpu --replicas=6
await_world 6
kubectl get emd moe-cpu
step "rank 0 serving (MoE steps over UCX between pods)"
sleep 10
kubectl logs moe-cpu-rank-0 | grep '^rank=' | tail -3
step "kubectl get pods -o wide -A"
kubectl get pods -o wide -A

echo
echo "The cluster stays up. Try: export KUBECONFIG=$KUBECONFIG; kubectl describe emd moe-cpu"
echo "Tear it down with: bin/elasticmoe cluster down"
if [[ "${1:-}" == "--down" ]]; then "$ROOT/e2e/cluster/cluster.sh" down; fi
