#!/usr/bin/env bash
# The two-GPU correctness run on the device machine: the cuda JUnit tests (two rank processes, bit-exact
# with the CPU backend; a killed peer masked; each over CUDA IPC and over the host staging proxy), then the
# small case under compute-sanitizer memcheck and racecheck, and its staged variant under memcheck. Logs go
# to $OUT. Usage (device): bash kernels/device/gpu-tests.sh [junit] [sanitizer] (default: both; one part per
# call keeps each under the device's 10-minute command limit).
set -uo pipefail
cd "$(dirname "$0")/../.."
source kernels/device/env.sh
OUT=${OUT:-/tmp/emoe-out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv | tee "$OUT/gpus.txt"
nvidia-smi topo -m | tee -a "$OUT/gpus.txt"
parts=" ${*:-junit sanitizer} "
status=0
if [[ $parts == *" junit "* ]]; then
  $JAVA --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -cp "$CP" org.junit.platform.console.ConsoleLauncher execute \
    --disable-banner --details=tree --select-package=io.elasticmoe.worker.cuda 2>&1 | tee "$OUT/junit.txt"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi
if [[ $parts == *" sanitizer "* ]]; then
  # scenario:tool pairs; the staged path's shared-memory use is the IPC path's, so racecheck runs once.
  for run in small:memcheck small:racecheck small-staged:memcheck; do
    scenario=${run%%:*}; tool=${run##*:}
    store=$(mktemp -d)
    for rank in 0 1; do
      compute-sanitizer --tool $tool --error-exitcode 3 $JAVA --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -cp "$CP" \
        io.elasticmoe.worker.cuda.CudaRankProcess $scenario $rank "$store" 20000 > "$OUT/sanitizer-$scenario-$tool-$rank.txt" 2>&1 &
    done
    for job in $(jobs -p); do wait $job || status=1; done
    for rank in 0 1; do
      echo "== $scenario $tool rank $rank: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|PASS|DONE|Exception' "$OUT/sanitizer-$scenario-$tool-$rank.txt" | tr '\n' ' ')"
    done
  done
fi
echo "gpu-tests ($parts) status $status"
exit $status
