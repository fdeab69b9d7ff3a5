#!/usr/bin/env bash
# Times kernel variants side by side in one device call: the bundle's own kernels first, then each variant
# directory of .device/variants.tar.xz (variants/<name>/kernels/*.cubin), put first on the class path so
# its cubins replace the jar's. Build a variant here with the kernels' nvcc line and -D switches, e.g.
#   nvcc -std=c++17 -O3 -lineinfo -DSOME_SWITCH -arch=sm_90 -cubin -o /tmp/variants/x/kernels/dispatch_ll.cubin kernels/dispatch_ll.cu
#   tar -C /tmp -cJf .device/variants.tar.xz variants
# Usage (device, carrying .device/bundle.tar.xz and .device/variants.tar.xz): TOK=128,1024 bash kernels/device/variants.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
source kernels/device/env.sh
rm -rf /tmp/emoe-variants && mkdir -p /tmp/emoe-variants && tar -C /tmp/emoe-variants -xJf .device/variants.tar.xz
run() {
  $JAVA --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -cp "$1$CP" io.elasticmoe.worker.cli.BenchDataplaneCudaCommand \
    --tokens "${TOK:-128,1024}" --iterations 200 --warmup 50 2>&1 | grep -E "^\| [0-9]"
}
echo "== bundle"; run ""
for v in /tmp/emoe-variants/variants/*/; do echo "== $(basename "$v")"; run "$v:"; done
