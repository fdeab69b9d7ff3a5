#!/usr/bin/env bash
# `elasticmoe bench rendezvous` on a host without a JDK, Maven or grpc_tools (the 16-core device host).
#
#   here:   worker/src/main/python/bench_rendezvous_device.sh bundle
#           (after ./mvnw -pl operator -am install -DskipTests and ./mvnw -pl worker install -DskipTests)
#           writes .device/rendezvous-bundle.tar.xz: a jlink'd Java runtime, the worker CLI with the jars it
#           loads, the standalone rendezvous server's jars, the Python bench script and pre-generated stubs,
#           laid out as the repository paths the command reads (--repo).
#   device: carry .device/rendezvous-bundle.tar.xz, then
#           bash worker/src/main/python/bench_rendezvous_device.sh run [bench options...]
#           needs the host's python3 (or $PYTHON) with grpcio and torch; the report lands in $OUT/rendezvous.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../../.." && pwd)
bundle_tar=$root/.device/rendezvous-bundle.tar.xz

bundle() {
  local java_home=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
  local out=$root/.device/rendezvous
  local app=$root/operator/target/quarkus-app
  rm -rf "$out" && mkdir -p "$out/worker/target/lib" "$out/operator/target/quarkus-app/app" \
    "$out/operator/target/quarkus-app/lib/main" "$out/operator/target/quarkus-app/lib/boot" \
    "$out/worker/src/main/python" "$out/stubs" "$out/api/src/main/proto"
  "$java_home/bin/jlink" --add-modules java.base,java.logging,java.management,java.naming,jdk.unsupported \
    --strip-debug --no-header-files --no-man-pages --output "$out/jre"
  # The worker CLI: its jar (manifest Class-Path lib/*.jar) and the jars picocli's scan of every subcommand
  # and the rendezvous bench load; the Kubernetes model jars stay behind (not loaded by this command).
  cp "$root/worker/target/elasticmoe-worker.jar" "$out/worker/target/"
  for jar in "$root"/worker/target/lib/*.jar; do
    case $(basename "$jar") in kubernetes-model-*|jcuda-natives-*|snakeyaml*) ;; *) cp "$jar" "$out/worker/target/lib/" ;; esac
  done
  # The standalone server: the operator's classes and only what the rendezvous services load.
  cp "$app"/app/*.jar "$out/operator/target/quarkus-app/app/"
  cp "$app"/lib/boot/org.jboss.logging.*.jar "$out/operator/target/quarkus-app/lib/boot/"
  for pattern in io.elasticmoe. io.grpc. io.netty.netty- com.google.protobuf. com.google.api.grpc. \
      com.google.guava. io.perfmark. io.micrometer.micrometer-co io.micrometer.micrometer-ob \
      org.hdrhistogram. org.latencyutils. io.fabric8.kubernetes-model-core io.fabric8.kubernetes-model-common \
      io.fabric8.kubernetes-client-api com.fasterxml.jackson.core.; do
    cp "$app"/lib/main/${pattern}*.jar "$out/operator/target/quarkus-app/lib/main/" 2>/dev/null || true
  done
  cp "$root/worker/src/main/python/bench_rendezvous_store.py" "$out/worker/src/main/python/"
  cp "$root/api/src/main/proto/rendezvous.proto" "$out/api/src/main/proto/"
  /usr/bin/python3 -m grpc_tools.protoc -I "$root/api/src/main/proto" --python_out="$out/stubs" \
    --grpc_python_out="$out/stubs" --descriptor_set_out="$out/stubs/rendezvous.desc" \
    "$root/api/src/main/proto/rendezvous.proto"
  # Debian's protoc writes message modules in the pre-3.20 style, which protobuf 4+ refuses ("Descriptors
  # cannot be created directly"). Rewrite rendezvous_pb2.py in the builder style (the serialized descriptor,
  # then builder calls), which every protobuf from 3.20 on accepts; the _grpc module only imports it.
  /usr/bin/python3 - "$out/stubs" <<'PY'
import sys
from google.protobuf import descriptor_pb2
stubs = sys.argv[1]
fds = descriptor_pb2.FileDescriptorSet()
with open(stubs + "/rendezvous.desc", "rb") as f:
    fds.ParseFromString(f.read())
serialized = fds.file[0].SerializeToString()
# Dependencies (google/protobuf/any.proto, ...) must be in the pool first: their modules register them.
imports = "".join("import %s_pb2\n" % d[:-len(".proto")].replace("/", ".") for d in fds.file[0].dependency)
with open(stubs + "/rendezvous_pb2.py", "w") as f:
    f.write(imports + "from google.protobuf import descriptor_pool as _descriptor_pool\n"
            "from google.protobuf.internal import builder as _builder\n"
            "DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile(%r)\n"
            "_builder.BuildMessageAndEnumDescriptors(DESCRIPTOR, globals())\n"
            "_builder.BuildTopDescriptorsAndMessages(DESCRIPTOR, 'rendezvous_pb2', globals())\n" % serialized)
PY
  rm "$out/stubs/rendezvous.desc"
  tar -C "$root/.device" -cJf "$bundle_tar" rendezvous
  rm -rf "$out"
  ls -la "$bundle_tar"
}

run() {
  local dir=/tmp/emoe-rendezvous
  rm -rf "$dir" && mkdir -p "$dir" && tar -C "$dir" -xJf "$bundle_tar"
  local b=$dir/rendezvous
  local out=${OUT:-/tmp/emoe-out}
  mkdir -p "$out"
  local python=${PYTHON:-python3}
  { nproc; uptime; "$python" -c 'import torch, grpc; print("torch", torch.__version__, "grpcio", grpc.__version__)'; } \
    | tee "$out/rendezvous-host.txt"
  # Stubs from the host's own grpc_tools when it has them (its protobuf runtime may reject old generated
  # code); the bundled ones, generated here, otherwise.
  local stubs=$b/stubs
  if "$python" -c 'import grpc_tools' 2>/dev/null; then
    stubs=$dir/host-stubs && mkdir -p "$stubs"
    "$python" -m grpc_tools.protoc -I "$b/api/src/main/proto" --python_out="$stubs" --grpc_python_out="$stubs" \
      "$b/api/src/main/proto/rendezvous.proto"
  fi
  "$b/jre/bin/java" -jar "$b/worker/target/elasticmoe-worker.jar" bench rendezvous --repo "$b" \
    --python "$python" --python-stubs "$stubs" "$@" 2>&1 | tee "$out/rendezvous.txt"
  exit "${PIPESTATUS[0]}"
}

case ${1:-} in
  bundle) bundle ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 bundle | run [elasticmoe bench rendezvous options]" >&2; exit 2 ;;
esac
