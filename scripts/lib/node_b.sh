# scripts/lib/node_b.sh — "node B", the second rootful Docker engine of the test environment,
# sourced by scripts/buildkit-env (which defines ENV_DIR, RUN, LOGS, CONTAINERD_SOCK, log, die,
# alive, stop_by_pidfile).
#
# `crossbuild build --node PLATFORMS=ADDRESS` sends each platform to its own BuildKit node.
# Its end-to-end test needs two nodes whose caches and histories are apart, so it can prove
# which node built which platform. Node B is a second dockerd (28.x, embedded BuildKit) with
# everything of its own except containerd, which it shares with the first engine under other
# namespaces (containerd keeps namespaces apart: images, containers, snapshots, leases):
#
#   socket              unix:///var/tmp/crossbuild-env/node-b/docker.sock
#   data root           $ENV_DIR/node-b/data       (its BuildKit cache and history live here)
#   exec root           $ENV_DIR/node-b/exec
#   pid file            $ENV_DIR/node-b/dockerd.self.pid (dockerd's own; ours is $RUN/node-b.pid)
#   containerd          the first engine's, namespaces "node-b" and "node-b-plugins"
#   bridge              cbnodeb0, 10.214.0.1/24, made here with `ip link` (dockerd only makes
#                       docker0 itself; BuildKit's RUN steps need a bridge to exist)
#   configuration       $ENV_DIR/node-b/daemon.json (iptables off, 127.0.0.1:5000 insecure,
#                       as the first engine)
#   log                 $LOGS/node-b-dockerd.log
#
# It is a real second node, not a second worker of one daemon, but it runs on the same
# machine: both nodes' workers list the same native platform (amd64) and the same QEMU
# binfmt handlers. "Native" is therefore only simulated for arm64 on node B.
#
# What it changes on the system: the bridge cbnodeb0 (removed by `down --clean`, like docker0).

NODE_B_DIR=$ENV_DIR/node-b
NODE_B_SOCK=$NODE_B_DIR/docker.sock
NODE_B_PID=$RUN/node-b.pid
NODE_B_BRIDGE=cbnodeb0
NODE_B_BRIDGE_CIDR=10.214.0.1/24
NODE_B_NAMESPACE=node-b

node_b_answers() {
  [ "$(curl -s --max-time 2 --unix-socket "$NODE_B_SOCK" http://x/_ping 2>/dev/null)" = OK ]
}

node_b_bridge() {
  if ! ip link show "$NODE_B_BRIDGE" >/dev/null 2>&1; then
    ip link add name "$NODE_B_BRIDGE" type bridge
    log "created bridge $NODE_B_BRIDGE for node B"
  fi
  if ! ip -4 addr show dev "$NODE_B_BRIDGE" | grep -q "inet $NODE_B_BRIDGE_CIDR"; then
    ip addr add "$NODE_B_BRIDGE_CIDR" dev "$NODE_B_BRIDGE"
  fi
  ip link set "$NODE_B_BRIDGE" up
}

node_b_write_config() {
  mkdir -p "$NODE_B_DIR/data" "$NODE_B_DIR/exec"
  cat > "$NODE_B_DIR/daemon.json.new" <<EOF
{
  "hosts": ["unix://$NODE_B_SOCK"],
  "data-root": "$NODE_B_DIR/data",
  "exec-root": "$NODE_B_DIR/exec",
  "pidfile": "$NODE_B_DIR/dockerd.self.pid",
  "containerd": "$CONTAINERD_SOCK",
  "containerd-namespace": "$NODE_B_NAMESPACE",
  "containerd-plugins-namespace": "$NODE_B_NAMESPACE-plugins",
  "bridge": "$NODE_B_BRIDGE",
  "features": { "containerd-snapshotter": true, "buildkit": true },
  "iptables": false,
  "ip6tables": false,
  "ip-forward": false,
  "insecure-registries": ["localhost:5000", "127.0.0.1:5000", "localhost:5001", "127.0.0.1:5001"],
  "log-level": "info"
}
EOF
}

node_b_up() {
  node_b_bridge
  node_b_write_config
  local stale=0
  if alive "$NODE_B_PID" && ! cmp -s "$NODE_B_DIR/daemon.json.new" "$NODE_B_DIR/daemon.json"; then
    log "NOTE: node B runs with an older $NODE_B_DIR/daemon.json; apply the new one with" \
        "'scripts/buildkit-env restart-node-b'"
    rm -f "$NODE_B_DIR/daemon.json.new"; stale=1
  else
    mv "$NODE_B_DIR/daemon.json.new" "$NODE_B_DIR/daemon.json"
  fi
  if ! alive "$NODE_B_PID"; then
    if [ -e "$NODE_B_DIR/dockerd.self.pid" ] && ! alive "$NODE_B_DIR/dockerd.self.pid"; then
      rm -f "$NODE_B_DIR/dockerd.self.pid"
    fi
    setsid dockerd --config-file "$NODE_B_DIR/daemon.json" >>"$LOGS/node-b-dockerd.log" 2>&1 </dev/null &
    echo $! > "$NODE_B_PID"
  fi
  for _ in $(seq 300); do
    node_b_answers && return 0
    alive "$NODE_B_PID" || break
    sleep 0.1
  done
  [ $stale = 1 ] && return 0
  die "node B did not answer _ping on $NODE_B_SOCK (see $LOGS/node-b-dockerd.log)"
}

node_b_stop() {
  stop_by_pidfile node-b-dockerd "$NODE_B_PID"
}

# $1 = 1 also deletes node B's data and its bridge. Its containerd namespaces go with the
# shared containerd's data (`down --clean` deletes that).
node_b_down() {
  local clean=${1:-0}
  node_b_stop
  if [ "$clean" = 1 ]; then
    awk '{print $2}' /proc/mounts | grep "^$NODE_B_DIR/" | sort -r | while read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m"
    done
    rm -rf "$NODE_B_DIR"
    if ip link show "$NODE_B_BRIDGE" >/dev/null 2>&1; then ip link del "$NODE_B_BRIDGE"; fi
    log "removed node B's data and its bridge $NODE_B_BRIDGE"
  fi
}

node_b_status() {
  if alive "$NODE_B_PID"; then echo "node-b-dockerd: running (pid $(cat "$NODE_B_PID"))"
  else echo "node-b-dockerd: stopped"; return 1; fi
  if node_b_answers; then echo "BuildKit (node B): unix://$NODE_B_SOCK answers"
  else echo "BuildKit (node B): unix://$NODE_B_SOCK does not answer"; return 1; fi
}
