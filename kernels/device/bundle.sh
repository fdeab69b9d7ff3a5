#!/usr/bin/env bash
# Packs what the GPU tests and the benchmark need on the device machine (no Maven, no registry there) into
# .device/bundle.tar.xz: a jlink'd Java runtime, the worker jar with its kernels, the few runtime jars the
# cuda/cpu backends load, the test classes with the JUnit console launcher, and Debian's UCX libraries for the
# CPU reference backend. xz keeps it under the 64 MiB the device call carries. Run after
# `./mvnw -pl worker -am install` (and `test-compile`). BUNDLE=.device/other.tar.xz writes another file, so
# that bundles of different builds can travel side by side (env.sh reads the same variable).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
java_home=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
target=$root/${BUNDLE:-.device/bundle.tar.xz}
staging=$(mktemp -d)
out=$staging/bundle
m2=${M2_REPO:-$HOME/.m2/repository}
rm -rf "$out" && mkdir -p "$out/lib" "$out/ucx/ucx"
"$java_home/bin/jlink" --add-modules java.base,java.logging,java.management,jdk.incubator.vector,jdk.unsupported,jdk.zipfs \
  --strip-debug --no-header-files --no-man-pages --output "$out/jre"
cp "$root/worker/target/elasticmoe-worker.jar" "$out/"
# Only what the cuda/cpu backends and picocli's scan of every subcommand load (the rest stays behind: 64 MiB).
for jar in jcuda-12 jcuda-natives jucx picocli jmh-core jopt-simple commons-math3 progressbar jline elasticmoe-; do
  cp "$root"/worker/target/lib/$jar*.jar "$out/lib/"
done
cp -r "$root/worker/target/test-classes" "$out/test-classes"
cp "$m2"/org/junit/platform/junit-platform-console-standalone/1.14.4/*.jar "$out/lib/"
cp "$m2"/org/assertj/assertj-core/3.27.7/assertj-core-3.27.7.jar "$out/lib/"
cp -L /usr/lib/x86_64-linux-gnu/libucm.so.0 /usr/lib/x86_64-linux-gnu/libucp.so.0 /usr/lib/x86_64-linux-gnu/libucs.so.0 \
  /usr/lib/x86_64-linux-gnu/libuct.so.0 /usr/lib/x86_64-linux-gnu/libucs_signal.so.0 /usr/lib/x86_64-linux-gnu/libnuma.so.1 "$out/ucx/"
cp -L /usr/lib/x86_64-linux-gnu/ucx/libuct_cma.so.0 "$out/ucx/ucx/"
tar -C "$staging" -cJf "$target" bundle
rm -rf "$staging"
ls -la "$target"
