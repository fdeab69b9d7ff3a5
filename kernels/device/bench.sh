#!/usr/bin/env bash
# The two-GPU benchmark on the device machine: bench dataplane-cuda (our LL kernels, the NCCL
# all_to_all_single baseline through PyTorch and the peer-write ceiling, side by side). Extra arguments go to
# the command. Usage (device): bash kernels/device/bench.sh [--tokens 128,512,4096 ...]
set -uo pipefail
cd "$(dirname "$0")/../.."
source kernels/device/env.sh
OUT=${OUT:-/tmp/emoe-out}; mkdir -p "$OUT"
set -x
$JAVA --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -cp "$CP" io.elasticmoe.worker.cli.BenchDataplaneCudaCommand "$@" \
  2>&1 | tee "$OUT/bench.txt"
exit "${PIPESTATUS[0]}"
