#!/usr/bin/env bash
# Builds the local cluster's container images without a registry or a Docker engine (DESIGN §3 items
# 14-15): Debian packages unpacked with `dpkg -x` + a jlink'd Temurin 25 runtime + our jars, assembled
# by buildah (vfs storage) from scratch and exported as OCI archives with a content hash.
#
#   pause     elasticmoe/pause:dev     static C program: the pod sandbox image
#   testbox   elasticmoe/testbox:dev   JVM base + busybox (Debian, dynamic) + an HTTP echo server and a
#                                      TCPStore client, TcpStoreProbe (cluster tests)
#   operator  elasticmoe/operator:dev  JVM base + operator/target/quarkus-app/  (skipped if not built)
#   worker    elasticmoe/worker:dev    JVM base + UCX + worker/target/elasticmoe-worker.jar + lib/ (skipped if not built)
#
# Usage: e2e/images/build.sh [--force] [NAME...]
# Output: $ELASTICMOE_CACHE/images/out/NAME.oci.tar, NAME.hash (content hash), NAME.ref (image ref).
# Prints one line per image on stdout: "NAME REF ARCHIVE HASH" for built or cached images.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../cluster/lib.sh
source "$HERE/../cluster/lib.sh"

JDK_HOME="${ELASTICMOE_JDK:-/usr/lib/jvm/temurin-25-jdk-amd64}"
IMAGE_TAG="${ELASTICMOE_IMAGE_TAG:-dev}"
JRE_MODULES="${ELASTICMOE_JRE_MODULES:-java.base,java.compiler,java.datatransfer,java.desktop,java.instrument,java.logging,java.management,java.management.rmi,java.naming,java.net.http,java.prefs,java.rmi,java.scripting,java.security.jgss,java.security.sasl,java.sql,java.transaction.xa,java.xml,java.xml.crypto,jdk.crypto.cryptoki,jdk.crypto.ec,jdk.httpserver,jdk.incubator.vector,jdk.jfr,jdk.management,jdk.management.agent,jdk.naming.dns,jdk.net,jdk.unsupported,jdk.zipfs}"
BASE_DEBS=(libc6 libgcc-s1 gcc-12-base libstdc++6 zlib1g)
WORKER_DEBS=(libucx0 libnuma1 libibverbs1 librdmacm1 libnl-3-200 libnl-route-3-200 ibverbs-providers)
ALL_IMAGES=(pause testbox operator worker)

IMG_CACHE="$EMOE_CACHE/images"
OUT="$IMG_CACHE/out"
BUILDAH_ROOT="$IMG_CACHE/buildah"

bah() {
  buildah --storage-driver vfs --root "$BUILDAH_ROOT/root" --runroot "$BUILDAH_ROOT/run" "$@"
}

image_ref() { echo "docker.io/elasticmoe/$1:$IMAGE_TAG"; }

hash_tree() { # content hash of files under the given paths (names + bytes)
  local p
  for p in "$@"; do
    if [[ -d $p ]]; then
      (cd "$p" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
    elif [[ -f $p ]]; then
      sha256sum "$p" | sed "s|$p|$(basename "$p")|"
    else
      echo "absent $p"
    fi
  done | sha256sum | cut -c1-16
}

# --- shared pieces, each cached ---------------------------------------------------------------

DEB_DIR="$IMG_CACHE/debs"
fetch_debs() { # fetch .debs (cached); prints their paths
  mkdir -p "$DEB_DIR"
  local pkg missing=()
  for pkg in "$@"; do
    compgen -G "$DEB_DIR/${pkg}_*.deb" >/dev/null || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    log "apt-get download ${missing[*]}"
    (cd "$DEB_DIR" && apt-get download -q "${missing[@]}" >/dev/null 2>"$DEB_DIR/download.log") \
      || { cat "$DEB_DIR/download.log" >&2; die "apt-get download ${missing[*]} failed (run 'apt-get update'?)"; }
  fi
  for pkg in "$@"; do ls "$DEB_DIR/${pkg}"_*.deb | head -1; done
}

jre_dir() { # jlink'd runtime, cached per JDK release + module list; prints its path
  [[ -x $JDK_HOME/bin/jlink ]] || die "no JDK at $JDK_HOME (set ELASTICMOE_JDK to a Temurin 25 JDK)"
  local key
  key="$( (cat "$JDK_HOME/release"; echo "$JRE_MODULES") | sha256sum | cut -c1-12)"
  local dir="$IMG_CACHE/jre-$key"
  if [[ ! -x $dir/bin/java ]]; then
    log "jlink a Java runtime ($JDK_HOME, modules: $JRE_MODULES)"
    rm -rf "$dir"
    "$JDK_HOME/bin/jlink" --add-modules "$JRE_MODULES" --strip-debug --no-man-pages \
      --no-header-files --compress=zip-6 --output "$dir" >&2 || die "jlink failed"
  fi
  echo "$dir"
}

base_rootfs() { # $1 = rootfs dir, rest = extra deb packages: glibc & co + JRE + passwd
  local root="$1"; shift
  local deb
  mkdir -p "$root"/{tmp,etc,app,opt}
  chmod 1777 "$root/tmp"
  while read -r deb; do dpkg -x "$deb" "$root"; done < <(fetch_debs "${BASE_DEBS[@]}" "$@")
  rm -rf "$root"/usr/share/{doc,man,info,lintian,locale}
  cp -a "$(jre_dir)" "$root/opt/java"
  printf 'root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/home/nonroot:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  mkdir -p "$root/home/nonroot" "$root/root"
  chown 65532:65532 "$root/home/nonroot"
}

# --- the images ---------------------------------------------------------------------------------

# Each recipe_NAME prints its input hash (or "SKIP: reason") with `inputs`, and assembles with `assemble`.
COMMON_ENV=(--env PATH=/opt/java/bin:/usr/local/bin:/usr/bin:/bin --env JAVA_HOME=/opt/java --env LANG=C.UTF-8)

inputs_pause() { command -v gcc >/dev/null || { echo "SKIP: gcc not found (apt-get install -y gcc libc6-dev)"; return; }; hash_tree "$HERE/src/pause.c"; }
assemble_pause() {
  local root="$1" ctr="$2"
  mkdir -p "$root"
  gcc -static -Os -s -o "$root/pause" "$HERE/src/pause.c" || die "gcc -static pause.c failed (apt-get install -y gcc libc6-dev)"
  bah copy "$ctr" "$root/pause" /pause >/dev/null
  bah config --entrypoint '["/pause"]' --user 65535 "$ctr"
}

inputs_testbox() {
  (printf '%s\n' "${BASE_DEBS[@]}" busybox "$JRE_MODULES"; cat "$JDK_HOME/release"; hash_tree "$HERE/src/Echo.java" "$HERE/src/TcpStoreProbe.java") | sha256sum | cut -c1-16
}
assemble_testbox() {
  local root="$1" ctr="$2"
  # Debian's dynamically linked busybox: the static one crashes resolving names (a static glibc
  # dlopen()ing the image's NSS modules), e.g. in `wget http://10.0.0.5/`.
  base_rootfs "$root" busybox
  mkdir -p "$root/app"
  local applet
  for applet in $("$root/bin/busybox" --list 2>/dev/null || echo sh); do
    [[ -e $root/bin/$applet || -e $root/usr/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
  done
  "$JDK_HOME/bin/javac" --release 21 -d "$root/app" "$HERE/src/Echo.java" "$HERE/src/TcpStoreProbe.java" \
    || die "javac Echo.java TcpStoreProbe.java failed"
  bah copy "$ctr" "$root" / >/dev/null
  bah config "${COMMON_ENV[@]}" --workingdir /app --port 8080 \
    --entrypoint '["/opt/java/bin/java","-cp","/app","Echo"]' "$ctr"
}

OPERATOR_APP="$REPO_ROOT/operator/target/quarkus-app"
inputs_operator() {
  [[ -f $OPERATOR_APP/quarkus-run.jar ]] || { echo "SKIP: $OPERATOR_APP/quarkus-run.jar not built (./mvnw -pl operator -am package)"; return; }
  (printf '%s\n' "${BASE_DEBS[@]}" "$JRE_MODULES"; cat "$JDK_HOME/release"; hash_tree "$OPERATOR_APP") | sha256sum | cut -c1-16
}
assemble_operator() {
  local root="$1" ctr="$2"
  base_rootfs "$root"
  cp -a "$OPERATOR_APP" "$root/app/quarkus-app"
  bah copy "$ctr" "$root" / >/dev/null
  bah config "${COMMON_ENV[@]}" --workingdir /app --user 65532:65532 --port 8080 \
    --entrypoint '["/opt/java/bin/java","-jar","/app/quarkus-app/quarkus-run.jar"]' "$ctr"
}

WORKER_TARGET="$REPO_ROOT/worker/target"
inputs_worker() {
  [[ -f $WORKER_TARGET/elasticmoe-worker.jar ]] || { echo "SKIP: $WORKER_TARGET/elasticmoe-worker.jar not built (./mvnw -pl worker -am package)"; return; }
  (printf '%s\n' "${BASE_DEBS[@]}" "${WORKER_DEBS[@]}" "$JRE_MODULES"; cat "$JDK_HOME/release"
   hash_tree "$WORKER_TARGET/elasticmoe-worker.jar" "$WORKER_TARGET/lib") | sha256sum | cut -c1-16
}
assemble_worker() {
  local root="$1" ctr="$2"
  base_rootfs "$root" "${WORKER_DEBS[@]}"
  cp "$WORKER_TARGET/elasticmoe-worker.jar" "$root/app/"
  if [[ -d $WORKER_TARGET/lib ]]; then cp -a "$WORKER_TARGET/lib" "$root/app/lib"; fi
  bah copy "$ctr" "$root" / >/dev/null
  bah config "${COMMON_ENV[@]}" --workingdir /app --user 65532:65532 \
    --entrypoint '["/opt/java/bin/java","--enable-native-access=ALL-UNNAMED","--add-modules","jdk.incubator.vector","-jar","/app/elasticmoe-worker.jar"]' \
    --cmd '["run"]' "$ctr"
}

build_one() { # $1 = name, $2 = force; prints the result line or nothing when skipped
  local name="$1" force="$2" in
  in="$("inputs_$name")"
  if [[ $in == SKIP:* ]]; then
    warn "image $name skipped: ${in#SKIP: }"
    return 0
  fi
  local hash
  hash="$( (echo "$in"; sha256sum "$HERE/build.sh" | cut -c1-64) | sha256sum | cut -c1-16)"
  local ref archive="$OUT/$name.oci.tar"
  ref="$(image_ref "$name")"
  if [[ $force == 0 && -f $archive && -f $OUT/$name.hash && "$(cat "$OUT/$name.hash")" == "$hash" ]]; then
    log "image $name ($ref) unchanged (hash $hash): cached"
    echo "$name $ref $archive $hash"
    return 0
  fi
  command -v buildah >/dev/null || die "buildah not found: apt-get install -y buildah"
  local t0=$SECONDS
  log "building image $name ($ref)"
  local work
  work="$(mktemp -d "$IMG_CACHE/work-$name.XXXX")"
  local ctr
  ctr="$(bah from --quiet scratch)"
  "assemble_$name" "$work/rootfs" "$ctr"
  bah config --label "io.elasticmoe.content-hash=$hash" --label "org.opencontainers.image.source=elasticmoe" "$ctr"
  rm -f "$archive.tmp"
  bah commit --quiet --rm "$ctr" "oci-archive:$archive.tmp:$ref" >/dev/null || die "buildah commit of $name failed"
  mv "$archive.tmp" "$archive"
  echo "$hash" >"$OUT/$name.hash"
  echo "$ref" >"$OUT/$name.ref"
  rm -rf "$work"
  log "image $name built in $((SECONDS - t0))s ($(du -h "$archive" | cut -f1), hash $hash)"
  echo "$name $ref $archive $hash"
}

main() {
  local force=0 names=()
  while (($#)); do
    case "$1" in
      --force) force=1 ;;
      -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; return 0 ;;
      pause|testbox|operator|worker) names+=("$1") ;;
      *) die "build.sh: unknown argument '$1' (images: ${ALL_IMAGES[*]})" ;;
    esac
    shift
  done
  ((${#names[@]})) || names=("${ALL_IMAGES[@]}")
  mkdir -p "$OUT" "$BUILDAH_ROOT"
  local n
  for n in "${names[@]}"; do build_one "$n" "$force"; done
  # vfs keeps full copies of every layer: drop what commit left behind.
  bah rm --all >/dev/null 2>&1 || true
  bah rmi --all --force >/dev/null 2>&1 || true
}

main "$@"
