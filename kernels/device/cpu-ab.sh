#!/usr/bin/env bash
# The CPU data plane, two builds alternating in one device call (ucx_perftest swings too much between calls
# to compare across them): the bundle's worker jar ("new") and an older worker jar ("old", from
# .device/old-worker.tar.xz holding old/elasticmoe-worker.jar), each run printing its RATIO lines and phase table
# into $OUT. Needs .device/perftest (ucx_perftest, libgomp, the extra jars) carried too.
# Usage (device): PAIRS=3 bash kernels/device/cpu-ab.sh [bench dataplane arguments]
set -uo pipefail
cd "$(dirname "$0")/../.."
source kernels/device/env.sh
OUT=${OUT:-/tmp/emoe-out}; mkdir -p "$OUT"
rm -rf /tmp/emoe-old && mkdir -p /tmp/emoe-old && tar -C /tmp/emoe-old -xJf .device/old-worker.tar.xz
export PATH=$PWD/.device/perftest:$PATH LD_LIBRARY_PATH=$PWD/.device/perftest:$LD_LIBRARY_PATH
extra=$(ls "$PWD"/.device/perftest/*.jar | tr '\n' ':')
args=("$@"); [ ${#args[@]} -gt 0 ] || args=(--hidden 7168,1024 --iterations 50 --warmup 50)
nproc; uptime
bench() {
  timeout 60 $JAVA --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -cp "$1$CP:$extra" io.elasticmoe.worker.cli.ElasticMoeCommand \
    bench dataplane "${args[@]}"
}
for r in $(seq 1 "${PAIRS:-3}"); do
  echo "=== new $r"; bench "" > "$OUT/new-$r.txt" 2>&1; grep -E "RATIO" "$OUT/new-$r.txt"
  echo "=== old $r"; bench "/tmp/emoe-old/old/elasticmoe-worker.jar:" > "$OUT/old-$r.txt" 2>&1; grep -E "RATIO" "$OUT/old-$r.txt"
done
