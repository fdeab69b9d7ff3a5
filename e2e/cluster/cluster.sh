#!/usr/bin/env bash
# ElasticMoE local cluster: a real Kubernetes v1.20.2 on one machine, without Docker (DESIGN §3).
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kube-proxy run on the host; each
# node is its own containerd + kubelet pair in a private mount namespace, with its own CNI bridge and
# pod subnet. Images are built by e2e/images/build.sh and imported into every node's containerd.
#
# Entry point of `bin/elasticmoe cluster ...`. Run `cluster.sh --help` for the subcommands.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

# ---- knobs (env; `up` flags override and are remembered in $EMOE_STATE/cluster.env) -------------
NODES="${ELASTICMOE_NODES:-2}"
GPUS_PER_NODE="${ELASTICMOE_GPUS_PER_NODE:-4}"
ZONES="${ELASTICMOE_ZONES:-}"                       # number of zones; default: one per node
API_ADDR="${ELASTICMOE_API_ADDRESS:-10.87.0.1}"      # on bridge emoe-api; pods reach it via 10.0.0.1:443
API_PORT="${ELASTICMOE_API_PORT:-6443}"
ETCD_PORT="${ELASTICMOE_ETCD_PORT:-2379}"
ETCD_PEER_PORT="${ELASTICMOE_ETCD_PEER_PORT:-2380}"
SERVICE_CIDR="10.0.0.0/24"
POD_CIDR="10.88.0.0/16"                              # node N: 10.88.N.0/24, bridge emoe-nN, address 10.88.N.1
BUILD_IMAGES="${ELASTICMOE_BUILD_IMAGES:-1}"
READY_TIMEOUT="${ELASTICMOE_READY_TIMEOUT:-180}"

STATE="$EMOE_STATE"
PKI="$STATE/pki"
LOGS="$STATE/logs"
PIDS="$STATE/pids"
KUBECONFIG_FILE="$STATE/kubeconfig"
OWNER_FILE=/run/elasticmoe-cluster.state   # which state folder owns the machine's cluster
CTR=(ctr)

usage() {
  cat <<EOF
usage: cluster.sh COMMAND [options]

Commands:
  up [--nodes N] [--gpus-per-node G] [--zones Z] [--no-images]
                     build/cache Kubernetes $K8S_VERSION and Helm, start the control plane and N nodes
                     (default $NODES, each advertising G nvidia.com/gpu, default $GPUS_PER_NODE), build and
                     load the images, wait until every node is Ready. Idempotent.
  down               stop everything 'up' started (containers first) and remove its state. Safe when down.
  status             health of every part; exits 1 if anything is down.
  images [NAME...]   rebuild changed images (pause testbox operator worker) and load them into every node.
  node stop|start|list NAME
                     stop or start one node's kubelet (its containers keep running, as in a node failure).
  env                print 'export KUBECONFIG=...' (eval "\$(cluster.sh env)").
  kubectl ARGS...    run kubectl against the local cluster.
  helm ARGS...       run the cached Helm v3.17.1 against the local cluster.

Each command has --help. State: $STATE   Cache: $EMOE_CACHE
EOF
}

# ---- small helpers -------------------------------------------------------------------------------

node_name() { echo "node-$1"; }
node_dir() { echo "$STATE/nodes/node-$1"; }
node_bridge() { echo "emoe-n$1"; }
node_ip() { echo "10.88.$1.1"; }
node_sock() { echo "$(node_dir "$1")/containerd.sock"; }
node_zone() { local z="${ZONES:-$NODES}"; echo "zone-$(( ($1 - 1) % z + 1 ))"; }

kc() { kubectl --kubeconfig "$KUBECONFIG_FILE" --request-timeout=15s "$@"; }

pid_of() { # $1 = component; prints pid if its process is alive and is what we started
  local f="$PIDS/$1.pid" pid
  [[ -f $f ]] || return 1
  pid="$(cat "$f")"
  [[ -n $pid && -d /proc/$pid ]] || return 1
  local exe
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
  [[ $exe == *"$(cat "$PIDS/$1.exe" 2>/dev/null)"* ]] || return 1
  echo "$pid"
}

alive() { pid_of "$1" >/dev/null; }

# start_daemon NAME EXE CMD... : runs CMD in its own session, logs to $LOGS/NAME.log, records the pid.
# CMD must exec (without forking) into EXE so that the recorded pid is the daemon's.
start_daemon() {
  local name="$1" exe="$2"; shift 2
  echo "$exe" >"$PIDS/$name.exe"
  echo "=== $(date -Is) start: $*" >>"$LOGS/$name.log"
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$name.pid"
}

stop_daemon() { # $1 = name, $2 = seconds to wait before SIGKILL
  local name="$1" wait_s="${2:-15}" pid
  pid="$(pid_of "$name")" || { rm -f "$PIDS/$name.pid"; return 0; }
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < wait_s * 5; i++)); do
    [[ -d /proc/$pid ]] || break
    sleep 0.2
  done
  if [[ -d /proc/$pid ]]; then
    warn "$name (pid $pid) did not stop in ${wait_s}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$PIDS/$name.pid"
}

wait_for() { # $1 = description, $2 = timeout s, rest = command that succeeds when ready
  local what="$1" timeout="$2"; shift 2
  local t0=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS - t0 >= timeout)); then return 1; fi
    sleep 0.5
  done
  log "  $what ready ($((SECONDS - t0))s)"
}

port_owner() { # $1 = port: prints "addr:port by PROCESS" if something listens there
  ss -Hltnp "sport = :$1" 2>/dev/null | awk '{print $4" by "$6}' | head -1
}

check_port_free() { # $1 = port, $2 = what we want it for
  local owner
  owner="$(port_owner "$1")"
  [[ -z $owner ]] || die "port $1 (needed for $2) is in use: $owner. Stop it (etcd and the API server can move: ELASTICMOE_ETCD_PORT, ELASTICMOE_ETCD_PEER_PORT, ELASTICMOE_API_PORT)"
}

check_subnet_free() { # $1 = cidr, $2 = our bridge name
  local route
  route="$(ip -4 route show to match "${1%/*}" 2>/dev/null | grep -v '^default' | grep -v "dev $2 " | head -1 || true)"
  [[ -z $route ]] || die "subnet $1 (for bridge $2) overlaps an existing route: '$route'. Free it or change the cluster's addresses"
}

save_config() {
  cat >"$STATE/cluster.env" <<EOF
NODES=$NODES
GPUS_PER_NODE=$GPUS_PER_NODE
ZONES=$ZONES
API_ADDR=$API_ADDR
API_PORT=$API_PORT
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
EOF
}

load_config() {
  # shellcheck disable=SC1091
  [[ -f $STATE/cluster.env ]] && source "$STATE/cluster.env"
  return 0
}

# ---- prerequisites and environment probes ---------------------------------------------------------

check_tools() {
  local missing=() t
  for t in kubectl ip ss iptables iptables-save ip6tables-save openssl curl jq unshare nsenter setsid runc containerd ctr etcd; do
    command -v "$t" >/dev/null || missing+=("$t")
  done
  if ((${#missing[@]})); then
    die "missing tools: ${missing[*]}. Run e2e/cluster/prereqs.sh as root (or apt-get install -y containerd runc etcd-server iptables iproute2 jq curl openssl util-linux; kubectl from https://kubernetes.io/docs/tasks/tools/)"
  fi
}

probe_runc() { # an environment that cannot run containers fails here, with runc's own words
  local dir
  dir="$(mktemp -d /tmp/emoe-runc-probe.XXXX)"
  mkdir -p "$dir/bundle/rootfs/bin"
  cp /bin/busybox "$dir/bundle/rootfs/bin/busybox" 2>/dev/null || die "/bin/busybox missing: apt-get install -y busybox-static"
  (cd "$dir/bundle" && runc spec)
  jq '.process.terminal=false | .process.args=["/bin/busybox","true"]' "$dir/bundle/config.json" >"$dir/c.json"
  mv "$dir/c.json" "$dir/bundle/config.json"
  local out rc=0
  out="$(runc --root "$dir/state" run --bundle "$dir/bundle" "emoe-probe-$$" 2>&1)" || rc=$?
  runc --root "$dir/state" delete -f "emoe-probe-$$" >/dev/null 2>&1 || true
  rm -rf "$dir"
  ((rc == 0)) || die "this environment cannot run containers: a test 'runc run' of busybox failed (exit $rc): $out"
}

# ---- control plane -------------------------------------------------------------------------------

make_pki() {
  mkdir -p "$PKI/apiserver"
  if [[ ! -f $PKI/sa.key ]]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
  if [[ ! -f $PKI/tokens.csv ]]; then
    local token
    token="$(openssl rand -hex 24)"
    echo "$token" >"$PKI/admin.token"
    echo "$token,admin,admin,\"system:masters\"" >"$PKI/tokens.csv"
    chmod 600 "$PKI/tokens.csv" "$PKI/admin.token" "$PKI/sa.key"
  fi
}

ensure_bridge() { # $1 = name, $2 = address/prefix
  if ! ip link show "$1" >/dev/null 2>&1; then
    ip link add "$1" type bridge || die "cannot create bridge $1 (ip link add $1 type bridge)"
  fi
  local addrs
  addrs="$(ip -o addr show dev "$1")"
  grep -qF " ${2} " <<<"$addrs" || ip addr add "$2" dev "$1" 2>/dev/null || true
  ip link set "$1" up
}

apiserver_healthy() { curl -sk --max-time 3 -H "Authorization: Bearer $(cat "$PKI/admin.token")" "https://$API_ADDR:$API_PORT/readyz" | grep -qx ok; }
etcd_healthy() { curl -s --max-time 3 "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"'; }
cm_healthy() { curl -sk --max-time 3 https://127.0.0.1:10257/healthz | grep -qx ok; }
sched_healthy() { curl -sk --max-time 3 https://127.0.0.1:10259/healthz | grep -qx ok; }
proxy_healthy() { curl -s --max-time 3 http://127.0.0.1:10256/healthz | grep -q lastUpdated; }

start_etcd() {
  alive etcd && return 0
  check_port_free "$ETCD_PORT" etcd; check_port_free "$ETCD_PEER_PORT" "etcd peer"
  mkdir -p "$STATE/etcd"
  log "starting etcd on 127.0.0.1:$ETCD_PORT"
  start_daemon etcd /usr/bin/etcd etcd --name emoe --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "emoe=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" \
    --quota-backend-bytes 2147483648 --snapshot-count 10000
  wait_for etcd 30 etcd_healthy || die "etcd did not become healthy in 30s; see $LOGS/etcd.log"
}

start_apiserver() {
  alive kube-apiserver && return 0
  check_port_free "$API_PORT" kube-apiserver
  log "starting kube-apiserver on https://$API_ADDR:$API_PORT"
  start_daemon kube-apiserver "$K8S_BIN/kube-apiserver" "$K8S_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address "$API_ADDR" --advertise-address "$API_ADDR" --secure-port "$API_PORT" --insecure-port 0 \
    --cert-dir "$PKI/apiserver" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --token-auth-file "$PKI/tokens.csv" --authorization-mode RBAC \
    --service-cluster-ip-range "$SERVICE_CIDR" --allow-privileged=true \
    --kubelet-preferred-address-types InternalIP --event-ttl 1h --profiling=false
  wait_for kube-apiserver 90 apiserver_healthy || die "kube-apiserver did not become ready in 90s; see $LOGS/kube-apiserver.log"
}

write_kubeconfig() {
  local ca token
  ca="$(base64 -w0 "$PKI/apiserver/apiserver.crt")"
  token="$(cat "$PKI/admin.token")"
  cat >"$KUBECONFIG_FILE.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: elasticmoe
  cluster:
    server: https://$API_ADDR:$API_PORT
    certificate-authority-data: $ca
users:
- name: elasticmoe-admin
  user:
    token: $token
contexts:
- name: elasticmoe
  context:
    cluster: elasticmoe
    user: elasticmoe-admin
    namespace: default
current-context: elasticmoe
EOF
  chmod 600 "$KUBECONFIG_FILE.tmp"
  mv "$KUBECONFIG_FILE.tmp" "$KUBECONFIG_FILE"
}

start_controllers() {
  if ! alive kube-controller-manager; then
    check_port_free 10257 kube-controller-manager
    log "starting kube-controller-manager"
    start_daemon kube-controller-manager "$K8S_BIN/kube-controller-manager" "$K8S_BIN/kube-controller-manager" \
      --kubeconfig "$KUBECONFIG_FILE" --service-account-private-key-file "$PKI/sa.key" \
      --root-ca-file "$PKI/apiserver/apiserver.crt" --controllers '*' --leader-elect=false \
      --bind-address 127.0.0.1 --secure-port 10257 --port 0 \
      --node-monitor-period 2s --node-monitor-grace-period 16s --pod-eviction-timeout 60s \
      --use-service-account-credentials=false --profiling=false
  fi
  if ! alive kube-scheduler; then
    check_port_free 10259 kube-scheduler
    log "starting kube-scheduler"
    start_daemon kube-scheduler "$K8S_BIN/kube-scheduler" "$K8S_BIN/kube-scheduler" \
      --kubeconfig "$KUBECONFIG_FILE" --leader-elect=false --bind-address 127.0.0.1 --secure-port 10259 --port 0 \
      --profiling=false
  fi
  if ! alive kube-proxy; then
    check_port_free 10256 kube-proxy; check_port_free 10249 "kube-proxy metrics"
    log "starting kube-proxy (iptables mode)"
    start_daemon kube-proxy "$K8S_BIN/kube-proxy" "$K8S_BIN/kube-proxy" \
      --kubeconfig "$KUBECONFIG_FILE" --proxy-mode iptables --cluster-cidr "$POD_CIDR" \
      --conntrack-max-per-core 0 --conntrack-tcp-timeout-established 0 --conntrack-tcp-timeout-close-wait 0 \
      --hostname-override "$(node_name 1)" \
      --metrics-bind-address 127.0.0.1:10249 --healthz-bind-address 127.0.0.1:10256
  fi
  wait_for kube-controller-manager 60 cm_healthy || die "kube-controller-manager not healthy; see $LOGS/kube-controller-manager.log"
  wait_for kube-scheduler 60 sched_healthy || die "kube-scheduler not healthy; see $LOGS/kube-scheduler.log"
}

wait_proxy() { # kube-proxy reports healthy after its first full sync, which takes a while: checked last
  wait_for kube-proxy 90 proxy_healthy || die "kube-proxy not healthy; see $LOGS/kube-proxy.log"
}

# ---- nodes ---------------------------------------------------------------------------------------

write_node_config() { # $1 = index
  local i="$1" d
  d="$(node_dir "$i")"
  mkdir -p "$d"/{containerd/root,containerd/state,containerd/opt,cni,cni-ipam,kubelet,pods-log,volume-plugins}
  cat >"$d/containerd.toml" <<EOF
# containerd of local-cluster node $(node_name "$i"), written by e2e/cluster/cluster.sh
version = 2
root = "$d/containerd/root"
state = "$d/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "$(node_sock "$i")"

[plugins."io.containerd.internal.v1.opt"]
  path = "$d/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$(image_ref pause)"
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni"
    max_conf_num = 1
EOF
  cat >"$d/cni/10-emoe.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$(node_bridge "$i")",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$(node_bridge "$i")",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "10.88.$i.0/24", "gateway": "$(node_ip "$i")"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$d/cni-ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat >"$d/kubelet-config.yaml" <<EOF
# kubelet of local-cluster node $(node_name "$i"), written by e2e/cluster/cluster.sh
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $(node_ip "$i")
port: 10250
readOnlyPort: 0
healthzBindAddress: $(node_ip "$i")
healthzPort: 10248
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
resolvConf: ""
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
volumePluginDir: $d/volume-plugins
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%"
  nodefs.inodesFree: "1%"
  imagefs.available: "1%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
nodeStatusUpdateFrequency: 4s
nodeStatusReportFrequency: 10s
EOF
}

containerd_healthy() { "${CTR[@]}" --address "$(node_sock "$1")" version >/dev/null 2>&1; }
kubelet_healthy() { curl -s --max-time 3 "http://$(node_ip "$1"):10248/healthz" | grep -qx ok; }

start_containerd() { # $1 = index
  local i="$1" d
  d="$(node_dir "$i")"
  alive "containerd-$i" && return 0
  if [[ ! -d /var/log/pods ]]; then
    mkdir -p /var/log/pods
    touch "$STATE/created-var-log-pods"
  fi
  [[ -d /run/netns || -f $STATE/created-run-netns ]] || touch "$STATE/created-run-netns"  # CNI creates it
  log "starting containerd of $(node_name "$i") (socket $(node_sock "$i"))"
  # A private mount namespace per node: kubelet 1.20 hard-codes /var/log/pods and removes the log
  # folders of pods it does not know, so each node gets its own folder bound there. Its kubelet joins
  # the same namespace (its volume mounts must be visible to containerd and the container shims).
  start_daemon "containerd-$i" /usr/bin/containerd unshare --mount --propagation private -- \
    /bin/sh -c 'mount --bind "$1" /var/log/pods && shift && exec "$@"' sh "$d/pods-log" \
    /usr/bin/containerd --config "$d/containerd.toml"
  wait_for "containerd of $(node_name "$i")" 30 containerd_healthy "$i" \
    || die "containerd of $(node_name "$i") did not start; see $LOGS/containerd-$i.log"
}

start_kubelet() { # $1 = index
  local i="$1" d cpid
  d="$(node_dir "$i")"
  alive "kubelet-$i" && return 0
  cpid="$(pid_of "containerd-$i")" || die "containerd of $(node_name "$i") is not running; cannot start its kubelet"
  ensure_bridge "$(node_bridge "$i")" "$(node_ip "$i")/24"
  log "starting kubelet of $(node_name "$i") ($(node_ip "$i"), $(node_zone "$i"))"
  start_daemon "kubelet-$i" "$K8S_BIN/kubelet" nsenter --target "$cpid" --mount -- "$K8S_BIN/kubelet" \
    --config "$d/kubelet-config.yaml" --kubeconfig "$KUBECONFIG_FILE" \
    --container-runtime remote --container-runtime-endpoint "unix://$(node_sock "$i")" \
    --runtime-request-timeout 5m --root-dir "$d/kubelet" --cert-dir "$d/kubelet/pki" \
    --hostname-override "$(node_name "$i")" --node-ip "$(node_ip "$i")" \
    --node-labels "topology.kubernetes.io/zone=$(node_zone "$i")" --v "${ELASTICMOE_KUBELET_VERBOSITY:-1}"
  wait_for "kubelet of $(node_name "$i")" 60 kubelet_healthy "$i" \
    || die "kubelet of $(node_name "$i") did not become healthy in 60s; see $LOGS/kubelet-$i.log"
}

advertise_gpus() { # $1 = index: nvidia.com/gpu capacity (a real cluster runs NVIDIA's device plugin)
  local n
  n="$(node_name "$1")"
  local t0=$SECONDS
  until kc get node "$n" >/dev/null 2>&1; do
    ((SECONDS - t0 < 60)) || die "node $n did not register with the API server; see $LOGS/kubelet-$1.log"
    sleep 0.5
  done
  kc patch node "$n" --subresource=status --type=json -p "[
    {\"op\":\"add\",\"path\":\"/status/capacity/nvidia.com~1gpu\",\"value\":\"$GPUS_PER_NODE\"},
    {\"op\":\"add\",\"path\":\"/status/allocatable/nvidia.com~1gpu\",\"value\":\"$GPUS_PER_NODE\"}]" >/dev/null \
    || die "could not patch nvidia.com/gpu capacity of $n"
}

node_ready() { [[ "$(kc get node "$(node_name "$1")" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]; }

# ---- images --------------------------------------------------------------------------------------

image_ref() { echo "docker.io/elasticmoe/$1:${ELASTICMOE_IMAGE_TAG:-dev}"; }

node_has_image() { # $1 = index, $2 = ref (no `| grep -q`: with pipefail, SIGPIPE fails the pipeline)
  local refs
  refs="$("${CTR[@]}" --address "$(node_sock "$1")" -n k8s.io images ls -q 2>/dev/null)" || return 1
  grep -qxF "$2" <<<"$refs"
}

load_images() { # build (cached by content hash) then import changed images into every node, nodes in parallel
  local names=("$@")
  local lines
  lines="$("$IMAGES_DIR/build.sh" "${names[@]}")" || die "image build failed"
  [[ -n $lines ]] || { warn "no images were built"; return 0; }
  local i pids=() failed=0
  for ((i = 1; i <= NODES; i++)); do
    if ! containerd_healthy "$i"; then
      warn "containerd of $(node_name "$i") is down: images not loaded there"
      continue
    fi
    import_into_node "$i" "$lines" &
    pids+=($!)
  done
  local pid
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  ((failed == 0)) || die "loading images into the nodes failed (see the errors above)"
}

import_into_node() { # $1 = index, $2 = build.sh output lines "NAME REF ARCHIVE HASH"
  local i="$1" name ref archive hash mark
  while read -r name ref archive hash; do
    mark="$(node_dir "$i")/images/$name.hash"
    if [[ -f $mark && "$(cat "$mark")" == "$hash" ]] && node_has_image "$i" "$ref"; then
      continue
    fi
    log "importing $ref into $(node_name "$i")"
    "${CTR[@]}" --address "$(node_sock "$i")" -n k8s.io images import --all-platforms "$archive" >/dev/null \
      || { err "ctr images import $archive into $(node_name "$i") failed"; return 1; }
    node_has_image "$i" "$ref" || { err "after import, $(node_name "$i") has no image $ref (archive $archive)"; return 1; }
    mkdir -p "$(dirname "$mark")"
    echo "$hash" >"$mark"
  done <<<"$2"
}

# ---- iptables bookkeeping ------------------------------------------------------------------------

our_chain_re='^(KUBE-|CNI-)'

snapshot_iptables() { # chains that existed before the first `up`, so `down` removes only ours
  [[ -f $STATE/iptables-before.txt ]] && return 0
  { list_chains iptables; list_chains ip6tables; } >"$STATE/iptables-before.txt"
}

list_chains() { # $1 = iptables|ip6tables: prints "CMD TABLE CHAIN" for KUBE-*/CNI-* chains
  local cmd="$1" table
  for table in filter nat mangle raw; do
    "$cmd-save" -t "$table" 2>/dev/null | sed -n "s/^:\([^ ]*\) .*/\1/p" | grep -E "$our_chain_re" \
      | sed "s/^/$cmd $table /" || true
  done
}

remove_our_chains() {
  local before="$STATE/iptables-before.txt"
  [[ -f $before ]] || before=/dev/null
  local ours
  ours="$( { list_chains iptables; list_chains ip6tables; } | grep -vxF -f "$before" || true)"
  [[ -n $ours ]] || return 0
  local cmd table chains rule
  # per (command, table): delete the jumps into our chains from other chains, then flush and delete ours
  while read -r cmd table; do
    chains="$(awk -v c="$cmd" -v t="$table" '$1 == c && $2 == t {print $3}' <<<"$ours")"
    while read -r rule; do
      [[ -n $rule ]] || continue
      eval "$cmd -t $table -D ${rule#-A }" 2>/dev/null || true
    done < <("$cmd-save" -t "$table" 2>/dev/null | awk -v list="$(tr "\n" " " <<<"$chains")" '
      BEGIN { n = split(list, a, " "); for (i = 1; i <= n; i++) ours[a[i]] = 1 }
      $1 == "-A" && !($2 in ours) { for (i = 3; i < NF; i++) if ($i == "-j" && ($(i + 1) in ours)) { print; break } }')
    local ch
    for ch in $chains; do "$cmd" -t "$table" -F "$ch" 2>/dev/null || true; done
    for ch in $chains; do "$cmd" -t "$table" -X "$ch" 2>/dev/null || true; done
  done < <(awk '{print $1, $2}' <<<"$ours" | sort -u)
}

set_sysctl() { # $1 = key, $2 = value; remembers the old value for `down`
  local f="/proc/sys/${1//.//}" old
  [[ -w $f ]] || return 0
  old="$(cat "$f")"
  [[ $old == "$2" ]] && return 0
  grep -q "^$1=" "$STATE/sysctl-before.txt" 2>/dev/null || echo "$1=$old" >>"$STATE/sysctl-before.txt"
  echo "$2" >"$f" || warn "could not set $1=$2"
}

# ---- commands ------------------------------------------------------------------------------------

cmd_up() {
  local load=$BUILD_IMAGES gpus_given="${ELASTICMOE_GPUS_PER_NODE:+1}" nodes_given="${ELASTICMOE_NODES:+1}" zones_given="${ELASTICMOE_ZONES:+1}"
  while (($#)); do
    case "$1" in
      --nodes) NODES="$2"; nodes_given=1; shift ;;
      --nodes=*) NODES="${1#*=}"; nodes_given=1 ;;
      --gpus-per-node) GPUS_PER_NODE="$2"; gpus_given=1; shift ;;
      --gpus-per-node=*) GPUS_PER_NODE="${1#*=}"; gpus_given=1 ;;
      --zones) ZONES="$2"; zones_given=1; shift ;;
      --zones=*) ZONES="${1#*=}"; zones_given=1 ;;
      --no-images) load=0 ;;
      -h|--help)
        cat <<EOF
usage: cluster.sh up [--nodes N] [--gpus-per-node G] [--zones Z] [--no-images]
  Starts (or completes) the local cluster. First run as root installs missing Debian packages
  (e2e/cluster/prereqs.sh), builds Kubernetes $K8S_VERSION (~5-10 min, cached in $K8S_BIN) and
  fetches Helm (cached). Then: etcd, kube-apiserver ($API_ADDR:$API_PORT), controller-manager,
  scheduler, kube-proxy, N nodes node-1..node-N (default $NODES) each with its own containerd and
  kubelet, G nvidia.com/gpu per node (default $GPUS_PER_NODE), zones zone-1..zone-Z (default one per
  node) as topology.kubernetes.io/zone; builds and loads the images; waits until all nodes are Ready.
  Env: ELASTICMOE_NODES ELASTICMOE_GPUS_PER_NODE ELASTICMOE_ZONES ELASTICMOE_CACHE ELASTICMOE_STATE
       ELASTICMOE_BUILD_IMAGES=0 ELASTICMOE_API_ADDRESS ELASTICMOE_API_PORT ELASTICMOE_ETCD_PORT
EOF
        return 0 ;;
      *) die "up: unknown option '$1' (see 'cluster.sh up --help')" ;;
    esac
    shift
  done
  [[ $NODES =~ ^[0-9]+$ ]] && ((NODES >= 1 && NODES <= 200)) || die "--nodes must be 1..200, got '$NODES'"
  [[ $GPUS_PER_NODE =~ ^[0-9]+$ ]] || die "--gpus-per-node must be a number, got '$GPUS_PER_NODE'"
  [[ -z $ZONES || $ZONES =~ ^[1-9][0-9]*$ ]] || die "--zones must be a positive number, got '$ZONES'"
  need_root "cluster up"
  local t0=$SECONDS

  if [[ -f $STATE/cluster.env ]]; then
    # a running cluster keeps its shape; GPU count may change (re-advertised below)
    local want_nodes=$NODES want_gpus=$GPUS_PER_NODE want_zones=$ZONES
    load_config
    [[ -z $nodes_given || $want_nodes == "$NODES" ]] || die "the cluster in $STATE has $NODES nodes; run 'cluster.sh down' before 'up --nodes $want_nodes'"
    [[ -z $zones_given || $want_zones == "$ZONES" ]] || die "the cluster in $STATE has zones='$ZONES'; run 'cluster.sh down' before changing --zones"
    [[ -z $gpus_given ]] || GPUS_PER_NODE=$want_gpus
  fi

  # one local cluster per machine: bridges, node IPs and ports are fixed
  if [[ -f $OWNER_FILE && "$(cat "$OWNER_FILE")" != "$STATE" && -d "$(cat "$OWNER_FILE")" ]]; then
    die "another local cluster is running from state $(cat "$OWNER_FILE"); stop it first: ELASTICMOE_STATE=$(cat "$OWNER_FILE") $0 down"
  fi

  "$CLUSTER_DIR/prereqs.sh"
  check_tools
  "$CLUSTER_DIR/build-k8s.sh"
  "$CLUSTER_DIR/fetch-helm.sh" >/dev/null || warn "Helm is not available (the cluster works without it; installing charts needs it)"

  mkdir -p "$STATE" "$PKI" "$LOGS" "$PIDS"
  echo "$STATE" >"$OWNER_FILE"
  save_config
  snapshot_iptables
  [[ -f $STATE/runc-ok ]] || { probe_runc; touch "$STATE/runc-ok"; }

  check_subnet_free "$API_ADDR/32" emoe-api
  local i
  for ((i = 1; i <= NODES; i++)); do check_subnet_free "10.88.$i.0/24" "$(node_bridge "$i")"; done
  set_sysctl net.ipv4.ip_forward 1
  set_sysctl net.bridge.bridge-nf-call-iptables 1
  ensure_bridge emoe-api "$API_ADDR/32"

  make_pki
  start_etcd
  start_apiserver
  write_kubeconfig
  start_controllers

  for ((i = 1; i <= NODES; i++)); do
    write_node_config "$i"
    start_containerd "$i"
  done
  # The sandbox (pause) image must be in containerd before the first pod; the others load while
  # the kubelets register.
  load_images pause
  for ((i = 1; i <= NODES; i++)); do start_kubelet "$i"; done
  [[ $load == 1 ]] && load_images
  wait_proxy
  for ((i = 1; i <= NODES; i++)); do
    advertise_gpus "$i"
    wait_for "$(node_name "$i")" "$READY_TIMEOUT" node_ready "$i" \
      || die "node $(node_name "$i") not Ready after ${READY_TIMEOUT}s; see $LOGS/kubelet-$i.log"
  done
  local t=$SECONDS
  until kc get serviceaccount default -n default >/dev/null 2>&1; do
    ((SECONDS - t < 60)) || die "the default ServiceAccount was not created; see $LOGS/kube-controller-manager.log"
    sleep 0.5
  done

  log "cluster up in $((SECONDS - t0))s: $NODES nodes, $GPUS_PER_NODE nvidia.com/gpu each"
  kc get nodes -L topology.kubernetes.io/zone >&2 || true
  cat >&2 <<EOF

Use it:
  export KUBECONFIG=$KUBECONFIG_FILE
  kubectl get nodes
  $HELM_BIN --kubeconfig \$KUBECONFIG ...   (Helm v3.17.1; or: e2e/cluster/cluster.sh helm ...)
Images (imagePullPolicy: Never or IfNotPresent): $(image_ref operator) $(image_ref worker) $(image_ref testbox)
EOF
  echo "export KUBECONFIG=$KUBECONFIG_FILE"
}

cmd_down() {
  case "${1:-}" in
    -h|--help) echo "usage: cluster.sh down   stop everything 'up' started and remove $STATE (succeeds when nothing is up)"; return 0 ;;
    "") ;;
    *) die "down: unknown option '$1'" ;;
  esac
  if [[ ! -d $STATE ]]; then
    log "nothing to stop: $STATE does not exist"
    return 0
  fi
  need_root "cluster down"
  load_config
  local t0=$SECONDS i
  local n_nodes
  n_nodes="$(find "$STATE/nodes" -maxdepth 1 -name 'node-*' 2>/dev/null | wc -l)"
  ((n_nodes > NODES)) && NODES=$n_nodes
  # Kubelets first (so they do not restart containers), then each node's containers, then containerd.
  for ((i = 1; i <= NODES; i++)); do stop_daemon "kubelet-$i" 20; done
  for ((i = 1; i <= NODES; i++)); do stop_node_containers "$i"; done
  for ((i = 1; i <= NODES; i++)); do stop_daemon "containerd-$i" 20; kill_shims "$i"; done
  stop_daemon kube-proxy 10
  if [[ -x $K8S_BIN/kube-proxy ]]; then
    "$K8S_BIN/kube-proxy" --cleanup --proxy-mode iptables >"$LOGS/kube-proxy-cleanup.log" 2>&1 || true
  fi
  stop_daemon kube-scheduler 10
  stop_daemon kube-controller-manager 10
  stop_daemon kube-apiserver 20
  stop_daemon etcd 20
  remove_our_chains
  local b
  for ((i = 1; i <= NODES; i++)); do
    b="$(node_bridge "$i")"
    if ip link show "$b" >/dev/null 2>&1; then
      # veths still attached (their netns already gone with the mount namespace normally)
      local v
      for v in $(ip -o link show master "$b" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
        ip link del "$v" 2>/dev/null || true
      done
      ip link del "$b" 2>/dev/null || warn "could not delete bridge $b"
    fi
  done
  if ip link show emoe-api >/dev/null 2>&1; then ip link del emoe-api || warn "could not delete bridge emoe-api"; fi
  # netns files CNI left on the host file system (their mounts lived in the nodes' namespaces)
  local f
  for f in /run/netns/cni-*; do
    [[ -e $f ]] || continue
    mountpoint -q "$f" 2>/dev/null || rm -f "$f"
  done
  # anything still mounted under the state dir (normally nothing: kubelet mounts stay in its namespace)
  local m
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(awk '{print $2}' /proc/mounts | grep -F "$STATE/" | sort -r)
  if [[ -f $STATE/sysctl-before.txt ]]; then
    local kv
    while read -r kv; do
      echo "${kv#*=}" >"/proc/sys/$(echo "${kv%%=*}" | tr . /)" 2>/dev/null || true
    done <"$STATE/sysctl-before.txt"
  fi
  [[ -f $STATE/created-var-log-pods ]] && { rmdir /var/log/pods 2>/dev/null || true; }
  [[ -f $STATE/created-run-netns ]] && { rmdir /run/netns 2>/dev/null || true; }
  rm -rf "$STATE"
  if [[ -f $OWNER_FILE && "$(cat "$OWNER_FILE")" == "$STATE" ]]; then rm -f "$OWNER_FILE"; fi
  log "cluster down in $((SECONDS - t0))s; state $STATE removed"
}

stop_node_containers() { # $1 = index: kill and delete every container and sandbox of that node
  local i="$1" sock
  sock="$(node_sock "$i")"
  containerd_healthy "$i" || return 0
  local c=("${CTR[@]}" --address "$sock" -n k8s.io)
  local ids id
  ids="$("${c[@]}" tasks ls -q 2>/dev/null || true)"
  if [[ -n $ids ]]; then
    log "killing $(wc -w <<<"$ids") containers and sandboxes of $(node_name "$i")"
    for id in $ids; do "${c[@]}" tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 & done
    wait
    local t=$SECONDS running
    while :; do
      running="$("${c[@]}" tasks ls 2>/dev/null | awk 'NR > 1 && $3 != "STOPPED"' | wc -l)"
      ((running == 0 || SECONDS - t >= 15)) && break
      sleep 0.3
    done
    for id in $ids; do "${c[@]}" tasks delete -f "$id" >/dev/null 2>&1 & done
    wait
  fi
  for id in $("${c[@]}" containers ls -q 2>/dev/null || true); do
    "${c[@]}" containers delete "$id" >/dev/null 2>&1 &
  done
  wait
}

kill_shims() { # shims of this node's containerd that outlived it (found by their -address argument)
  local sock pid
  sock="$(node_sock "$1")"
  for pid in $(pgrep -f -- "containerd-shim-runc-v2 .*-address $sock( |\$)" || true); do
    kill -KILL "$pid" 2>/dev/null || true
  done
}

cmd_status() {
  case "${1:-}" in
    -h|--help) echo "usage: cluster.sh status   health of each part of the local cluster; exit 1 if any part is down"; return 0 ;;
  esac
  if [[ ! -f $STATE/cluster.env ]]; then
    echo "cluster: down (no state in $STATE)"
    return 1
  fi
  load_config
  local bad=0
  row() { # name, ok?, detail
    local mark=ok
    [[ $2 == 1 ]] || { mark=DOWN; bad=1; }
    printf '%-28s %-5s %s\n' "$1" "$mark" "$3"
  }
  check() { if "$@" >/dev/null 2>&1; then echo 1; else echo 0; fi; }
  row etcd "$(check etcd_healthy)" "127.0.0.1:$ETCD_PORT pid=$(pid_of etcd || echo -)"
  row kube-apiserver "$(check apiserver_healthy)" "https://$API_ADDR:$API_PORT pid=$(pid_of kube-apiserver || echo -)"
  row kube-controller-manager "$(check cm_healthy)" "pid=$(pid_of kube-controller-manager || echo -)"
  row kube-scheduler "$(check sched_healthy)" "pid=$(pid_of kube-scheduler || echo -)"
  row kube-proxy "$(check proxy_healthy)" "pid=$(pid_of kube-proxy || echo -)"
  local i
  for ((i = 1; i <= NODES; i++)); do
    local n
    n="$(node_name "$i")"
    row "$n containerd" "$(check containerd_healthy "$i")" "$(node_sock "$i") pid=$(pid_of "containerd-$i" || echo -)"
    row "$n kubelet" "$(check kubelet_healthy "$i")" "$(node_ip "$i"):10250 pid=$(pid_of "kubelet-$i" || echo -)"
    row "$n Ready" "$(check node_ready "$i")" "$(node_zone "$i"), nvidia.com/gpu=$(kc get node "$n" -o jsonpath='{.status.allocatable.nvidia\.com/gpu}' 2>/dev/null || echo ?)"
  done
  echo "kubeconfig: $KUBECONFIG_FILE"
  return $bad
}

cmd_node() {
  local action="${1:-}" name="${2:-}"
  case "$action" in
    -h|--help|"")
      cat <<EOF
usage: cluster.sh node stop|start NAME | node list
  stop NAME    stop NAME's kubelet (SIGTERM). Its containerd and containers keep running, as when a node's
               agent dies; the node goes NotReady after the controller-manager's grace period (16s).
  start NAME   start NAME's kubelet again and re-advertise its nvidia.com/gpu capacity; waits for Ready.
  list         node names.
EOF
      [[ -n $action ]] && return 0 || return 1 ;;
  esac
  load_config
  [[ -f $STATE/cluster.env ]] || die "the cluster is not up"
  if [[ $action == list ]]; then
    local i; for ((i = 1; i <= NODES; i++)); do node_name "$i"; done; return 0
  fi
  [[ $name =~ ^node-([0-9]+)$ ]] && ((BASH_REMATCH[1] >= 1 && BASH_REMATCH[1] <= NODES)) \
    || die "unknown node '$name' (nodes: $(for ((j = 1; j <= NODES; j++)); do printf '%s ' "$(node_name "$j")"; done))"
  local i="${BASH_REMATCH[1]}"
  need_root "cluster node $action"
  case "$action" in
    stop) stop_daemon "kubelet-$i" 20; log "kubelet of $name stopped" ;;
    start)
      start_kubelet "$i"
      advertise_gpus "$i"
      wait_for "$name" "$READY_TIMEOUT" node_ready "$i" || die "$name not Ready after ${READY_TIMEOUT}s; see $LOGS/kubelet-$i.log" ;;
    *) die "node: unknown action '$action' (stop|start|list)" ;;
  esac
}

cmd_images() {
  case "${1:-}" in
    -h|--help) echo "usage: cluster.sh images [pause|testbox|operator|worker ...]   rebuild changed images (content-hashed) and import them into every node"; return 0 ;;
  esac
  load_config
  [[ -f $STATE/cluster.env ]] || die "the cluster is not up (run 'cluster.sh up' first; e2e/images/build.sh builds images without a cluster)"
  need_root "cluster images"
  load_images "$@"
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    images|load-images) cmd_images "$@" ;;
    node) cmd_node "$@" ;;
    env) echo "export KUBECONFIG=$KUBECONFIG_FILE" ;;
    kubectl) kubectl --kubeconfig "$KUBECONFIG_FILE" "$@" ;;
    helm) "$CLUSTER_DIR/fetch-helm.sh" >/dev/null; "$HELM_BIN" --kubeconfig "$KUBECONFIG_FILE" "$@" ;;
    -h|--help|help) usage ;;
    "") usage >&2; exit 2 ;;
    *) err "unknown command '$cmd'"; usage >&2; exit 2 ;;
  esac
}

main "$@"
