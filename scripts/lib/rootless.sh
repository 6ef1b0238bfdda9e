# scripts/lib/rootless.sh — the rootless part of the test environment, sourced by
# scripts/buildkit-env (which defines ENV_DIR, RUN, LOGS, log, die, alive, stop_by_pidfile).
#
# An unprivileged user, crossbuild-rootless, runs its own Docker engine 28.x (with its
# embedded BuildKit and its own containerd child) under RootlessKit, the way CI runners
# without root run BuildKit. Started from Debian's packages only: dockerd-rootless.sh
# from docker.io, rootlesskit from sid (bookworm's 1.1 predates what docker 28 expects),
# slirp4netns, uidmap and socat from bookworm (sid's need a newer libc than bookworm has).
#
#   socket          unix:///run/user/<uid>/docker.sock   ($XDG_RUNTIME_DIR/docker.sock)
#   data root       $ENV_DIR/rootless/home/.local/share/docker   (the user's home)
#   exec root       /run/user/<uid>/docker
#   configuration   $ENV_DIR/rootless/conf/daemon.json
#   log             $LOGS/rootless-dockerd.log
#
# The network. RootlessKit gives the engine its own network namespace, reached from the
# outside through slirp4netns, in which dockerd can make the bridge BuildKit's RUN steps
# need. The host's 127.0.0.1 is another namespace's loopback, so `localhost:5000/busybox`
# would not resolve to the test registry: slirp4netns maps the host's loopback to 10.0.2.2
# (host loopback is left enabled), and two socat forwarders inside the namespace listen on
# its 127.0.0.1:5000 and :5001 and connect to 10.0.2.2, so the rootless engine pulls and
# pushes the same image names as the rootful one. RootlessKit's host network (--net=host)
# does reach the registry, but dockerd 28 cannot make a bridge in the host's namespace, so
# every RUN step fails with "network bridge not found" (dockerd-rootless.sh 28.x refuses
# --net=host for that reason; docker 29's --detach-netns would solve it). --pidns makes the
# engine's process the namespace's init: when it ends, the forwarders end with it.
#
# cgroup v1 hosts: the engine runs without cgroup limits (dockerd warns); builds work.
#
# What it changes on the system, each recorded in $ENV_DIR/rootless/state and put back by
# `down`: the user and its group (useradd; home in $ENV_DIR/rootless/home), one line each in
# /etc/subuid and /etc/subgid, /dev/net/tun's mode (0666, as udev sets it on most systems:
# slirp4netns opens it as the user), /run/user/<uid> (and /run/user when missing), and the
# user-namespace sysctls when they forbid unprivileged user namespaces.

ROOTLESS_USER=${CROSSBUILD_ROOTLESS_USER:-crossbuild-rootless}
ROOTLESS_DIR=$ENV_DIR/rootless
ROOTLESS_STATE=$ROOTLESS_DIR/state
ROOTLESS_CONF=$ROOTLESS_DIR/conf
ROOTLESS_HOME=$ROOTLESS_DIR/home
ROOTLESS_PID=$RUN/rootless-dockerd.pid
# The host's registries, as seen from inside the engine's namespace (slirp4netns' alias
# for the host's loopback) and forwarded to the same ports on the namespace's 127.0.0.1.
ROOTLESS_HOST_LOOPBACK=10.0.2.2
ROOTLESS_FORWARDED_PORTS="5000 5001"

rootless_package_specs() {
  echo rootlesskit:sid,trixie uidmap:bookworm libsubid4:bookworm slirp4netns:bookworm \
       libslirp0:bookworm socat:bookworm libwrap0:bookworm
}

# Sets ROOTLESS_UID, ROOTLESS_GID and ROOTLESS_XDG for an existing user.
rootless_ids() {
  ROOTLESS_UID=$(id -u "$ROOTLESS_USER")
  ROOTLESS_GID=$(id -g "$ROOTLESS_USER")
  ROOTLESS_XDG=/run/user/$ROOTLESS_UID
}

# Runs a command as the user with the environment a login would give it, nothing more.
rootless_as_user() {
  setpriv --reuid="$ROOTLESS_UID" --regid="$ROOTLESS_GID" --init-groups \
    env -i HOME="$ROOTLESS_HOME" USER="$ROOTLESS_USER" LOGNAME="$ROOTLESS_USER" \
    XDG_RUNTIME_DIR="$ROOTLESS_XDG" PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    "$@"
}

# ------------------------------------------------------------------ system changes
# Each change is made once and recorded first, so an interrupted `up` is still undone.

rootless_user() {
  mkdir -p "$ROOTLESS_STATE" "$ROOTLESS_CONF"
  chmod 755 "$ROOTLESS_DIR"
  if ! id "$ROOTLESS_USER" >/dev/null 2>&1; then
    echo "$ROOTLESS_USER" > "$ROOTLESS_STATE/user-created"
    # No automatic subordinate ids (we add our own line) and no mail spool.
    useradd -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 -K MAIL_DIR=/nonexistent --user-group \
      --home-dir "$ROOTLESS_HOME" --no-create-home --shell /bin/sh \
      --comment "crossbuild rootless BuildKit tests" "$ROOTLESS_USER"
    log "created user $ROOTLESS_USER (uid $(id -u "$ROOTLESS_USER"))"
  fi
  rootless_ids
  # A home left by an earlier user of another uid holds files it can no longer own.
  if [ -d "$ROOTLESS_HOME" ] && [ "$(stat -c %u "$ROOTLESS_HOME")" != "$ROOTLESS_UID" ]; then
    log "removing $ROOTLESS_HOME (it belongs to uid $(stat -c %u "$ROOTLESS_HOME"), not $ROOTLESS_UID)"
    rm -rf "$ROOTLESS_HOME"
  fi
  if [ ! -d "$ROOTLESS_HOME" ]; then
    install -d -m 0700 -o "$ROOTLESS_UID" -g "$ROOTLESS_GID" "$ROOTLESS_HOME"
  fi
}

# Gives the user 65536 subordinate uids and gids (the same numbers), after every range
# already handed out in either file, unless it has some there already.
rootless_subids() {
  local start="" name file line
  for name in subuid subgid; do
    file=/etc/$name
    grep -q "^$ROOTLESS_USER:" "$file" 2>/dev/null && continue
    if [ -z "$start" ]; then
      start=$(cat /etc/subuid /etc/subgid 2>/dev/null \
                | awk -F: 'NF==3 && $2+$3 > m {m = $2+$3} END {print (m > 100000 ? m : 100000)}')
    fi
    [ -e "$file" ] || { : > "$ROOTLESS_STATE/$name-file-created"; touch "$file"; }
    line="$ROOTLESS_USER:$start:65536"
    echo "$line" > "$ROOTLESS_STATE/$name-line"
    echo "$line" >> "$file"
    log "added '$line' to $file"
  done
}

rootless_tun() {
  local mode
  [ -c /dev/net/tun ] || die "/dev/net/tun is missing: slirp4netns needs it (modprobe tun)"
  mode=$(stat -c %a /dev/net/tun)
  [ "$mode" = 666 ] && return 0
  [ -e "$ROOTLESS_STATE/tun-mode" ] || echo "$mode" > "$ROOTLESS_STATE/tun-mode"
  chmod 0666 /dev/net/tun
  log "/dev/net/tun: mode $mode -> 666 (slirp4netns opens it as $ROOTLESS_USER)"
}

# Debian kernels before 6.x could forbid unprivileged user namespaces with this switch; a
# zero max_user_namespaces forbids them everywhere. Neither is the case on most machines.
rootless_sysctls() {
  local f want v
  for f in /proc/sys/kernel/unprivileged_userns_clone:1 /proc/sys/user/max_user_namespaces:15000; do
    want=${f#*:}; f=${f%%:*}
    [ -w "$f" ] || continue
    v=$(cat "$f")
    [ "$v" = 0 ] || continue
    echo "$f $v" >> "$ROOTLESS_STATE/sysctls"
    echo "$want" > "$f"
    log "$f: $v -> $want"
  done
}

rootless_runtime_dir() {
  if [ ! -d /run/user ]; then
    : > "$ROOTLESS_STATE/run-user-created"
    mkdir -p /run/user; chmod 755 /run/user
  fi
  if [ ! -d "$ROOTLESS_XDG" ]; then
    : > "$ROOTLESS_STATE/xdg-created"
    install -d -m 0700 -o "$ROOTLESS_UID" -g "$ROOTLESS_GID" "$ROOTLESS_XDG"
  fi
}

# ------------------------------------------------------------------ the engine
rootless_answers() {
  [ -n "${ROOTLESS_XDG:-}" ] &&
    [ "$(curl -s --max-time 2 --unix-socket "$ROOTLESS_XDG/docker.sock" http://x/_ping 2>/dev/null)" = OK ]
}

# Pids of the rootless user's engine processes, space separated (one pgrep per name:
# pgrep warns about -x patterns longer than a process name can be).
rootless_engine_pids() {
  local name
  for name in dockerd containerd slirp4netns; do
    pgrep -d ' ' -u "$ROOTLESS_UID" -x "$name" || true
  done | xargs
}

# True if the namespace's 127.0.0.1:5000 reaches the test registry (the forwarder works).
rootless_registry_answers() {
  local child
  child=$(cat "$ROOTLESS_XDG/dockerd-rootless/child_pid" 2>/dev/null) || return 1
  rootless_as_user nsenter --preserve-credentials -U -n -t "$child" \
    curl -sf --max-time 2 -o /dev/null http://127.0.0.1:5000/v2/ 2>/dev/null
}

rootless_write_config() {
  cat > "$ROOTLESS_CONF/daemon.json.new" <<EOF
{
  "hosts": ["unix://$ROOTLESS_XDG/docker.sock"],
  "data-root": "$ROOTLESS_HOME/.local/share/docker",
  "exec-root": "$ROOTLESS_XDG/docker",
  "pidfile": "$ROOTLESS_XDG/docker.pid",
  "features": { "containerd-snapshotter": true, "buildkit": true },
  "iptables": false,
  "ip6tables": false,
  "insecure-registries": ["localhost:5000", "127.0.0.1:5000", "localhost:5001", "127.0.0.1:5001"],
  "log-level": "info"
}
EOF
  # Runs inside RootlessKit's namespaces as dockerd-rootless.sh's $DOCKERD: the registry
  # forwarders first, then the engine.
  {
    echo '#!/bin/sh'
    echo '# Written by scripts/buildkit-env: forwards the namespace'"'"'s 127.0.0.1 registry ports'
    echo '# to the host'"'"'s (slirp4netns'"'"' host-loopback alias), then runs dockerd.'
    for port in $ROOTLESS_FORWARDED_PORTS; do
      echo "socat TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr TCP:$ROOTLESS_HOST_LOOPBACK:$port &"
    done
    echo 'exec dockerd "$@"'
  } > "$ROOTLESS_CONF/dockerd-forwarding"
  chmod 0755 "$ROOTLESS_CONF/dockerd-forwarding"
}

rootless_start_engine() {
  local script
  script=$(command -v dockerd-rootless.sh || echo /usr/share/docker.io/contrib/dockerd-rootless.sh)
  [ -x "$script" ] || die "dockerd-rootless.sh not found (docker.io ships it in /usr/share/docker.io/contrib)"
  rootless_write_config
  local stale=0
  if alive "$ROOTLESS_PID" && ! cmp -s "$ROOTLESS_CONF/daemon.json.new" "$ROOTLESS_CONF/daemon.json"; then
    log "NOTE: the rootless engine runs with an older $ROOTLESS_CONF/daemon.json; apply the new one" \
        "with 'scripts/buildkit-env restart-rootless'"
    rm -f "$ROOTLESS_CONF/daemon.json.new"; stale=1
  else
    mv "$ROOTLESS_CONF/daemon.json.new" "$ROOTLESS_CONF/daemon.json"
  fi
  if ! alive "$ROOTLESS_PID"; then
    # A rootlesskit that was killed leaves its namespace's processes for a moment; a new
    # engine must not share the data root with them.
    for _ in $(seq 50); do
      [[ -n "$(rootless_engine_pids)" ]] || break
      sleep 0.1
    done
    if [[ -n "$(rootless_engine_pids)" ]]; then
      die "an earlier rootless engine of $ROOTLESS_USER still runs (pids $(rootless_engine_pids)); stop it first"
    fi
    # Pid files of the last run (dockerd's, and its containerd's in the exec root) name
    # pids of its PID namespace; in a new one those numbers are other processes, and
    # dockerd would wait for a containerd that is not there. Nothing runs: wipe them.
    rm -rf "$ROOTLESS_XDG/docker.pid" "$ROOTLESS_XDG/docker"
    # dockerd-rootless.sh runs rootlesskit with its usual flags (slirp4netns, copy-up of
    # /etc and /run, rslave propagation), plus ours: host loopback reachable, a PID
    # namespace, and the forwarding wrapper as the engine.
    (cd / && exec setsid setpriv --reuid="$ROOTLESS_UID" --regid="$ROOTLESS_GID" --init-groups \
      env -i HOME="$ROOTLESS_HOME" USER="$ROOTLESS_USER" LOGNAME="$ROOTLESS_USER" \
      XDG_RUNTIME_DIR="$ROOTLESS_XDG" PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      DOCKERD_ROOTLESS_ROOTLESSKIT_NET=slirp4netns \
      DOCKERD_ROOTLESS_ROOTLESSKIT_DISABLE_HOST_LOOPBACK=false \
      DOCKERD_ROOTLESS_ROOTLESSKIT_FLAGS=--pidns \
      DOCKERD="$ROOTLESS_CONF/dockerd-forwarding" \
      "$script" --config-file "$ROOTLESS_CONF/daemon.json" \
      >>"$LOGS/rootless-dockerd.log" 2>&1 </dev/null) &
    echo $! > "$ROOTLESS_PID"
  fi
  for _ in $(seq 300); do
    if rootless_answers; then
      [ $stale = 1 ] && return 0
      for _ in $(seq 50); do rootless_registry_answers && return 0; sleep 0.1; done
      die "the rootless engine answers, but 127.0.0.1:5000 inside its namespace does not reach the registry (see $LOGS/rootless-dockerd.log)"
    fi
    alive "$ROOTLESS_PID" || break
    sleep 0.1
  done
  die "the rootless engine did not answer _ping on $ROOTLESS_XDG/docker.sock (see $LOGS/rootless-dockerd.log)"
}

# ------------------------------------------------------------------ commands
rootless_up() {
  rootless_sysctls
  rootless_user
  rootless_subids
  rootless_tun
  rootless_runtime_dir
  rootless_start_engine
}

rootless_stop_engine() {
  stop_by_pidfile rootless-dockerd "$ROOTLESS_PID"
}

# Puts back every recorded change, newest first. $1 = 1 also deletes the user's home (the
# engine's data).
rootless_down() {
  local clean=${1:-0} name line path value
  rootless_stop_engine
  if id "$ROOTLESS_USER" >/dev/null 2>&1; then
    rootless_ids
    # The namespace's processes outlive a killed rootlesskit for a moment; userdel
    # refuses a user with processes.
    for _ in $(seq 100); do pgrep -u "$ROOTLESS_UID" >/dev/null || break; sleep 0.1; done
  fi
  if [ -n "${ROOTLESS_XDG:-}" ] && [ -e "$ROOTLESS_STATE/xdg-created" ]; then
    rm -rf "$ROOTLESS_XDG"; rm -f "$ROOTLESS_STATE/xdg-created"
    log "removed $ROOTLESS_XDG"
  fi
  if [ -e "$ROOTLESS_STATE/run-user-created" ]; then
    rmdir /run/user 2>/dev/null && log "removed /run/user"
    rm -f "$ROOTLESS_STATE/run-user-created"
  fi
  if [ -s "$ROOTLESS_STATE/tun-mode" ]; then
    chmod "$(cat "$ROOTLESS_STATE/tun-mode")" /dev/net/tun
    log "/dev/net/tun: mode back to $(cat "$ROOTLESS_STATE/tun-mode")"
    rm -f "$ROOTLESS_STATE/tun-mode"
  fi
  for name in subuid subgid; do
    if [ -s "$ROOTLESS_STATE/$name-line" ]; then
      line=$(cat "$ROOTLESS_STATE/$name-line")
      # Rewritten in place (not renamed over), so the file keeps its owner and mode.
      grep -vxF "$line" "/etc/$name" > "$ROOTLESS_STATE/$name.tmp" || true
      cat "$ROOTLESS_STATE/$name.tmp" > "/etc/$name"; rm -f "$ROOTLESS_STATE/$name.tmp"
      log "removed '$line' from /etc/$name"
      rm -f "$ROOTLESS_STATE/$name-line"
    fi
    if [ -e "$ROOTLESS_STATE/$name-file-created" ]; then
      [ -s "/etc/$name" ] || rm -f "/etc/$name"
      rm -f "$ROOTLESS_STATE/$name-file-created"
    fi
  done
  if [ -s "$ROOTLESS_STATE/user-created" ]; then
    # userdel also drops the user's group; the home stays unless --clean (it is under
    # $ENV_DIR, not /home).
    if userdel "$(cat "$ROOTLESS_STATE/user-created")"; then
      log "removed user $(cat "$ROOTLESS_STATE/user-created")"
      rm -f "$ROOTLESS_STATE/user-created"
    else
      # Kept on record, so the next down tries again; the rest is put back regardless.
      log "WARNING: could not remove user $(cat "$ROOTLESS_STATE/user-created") (processes left: $(pgrep -d ' ' -u "$ROOTLESS_UID" || true))"
    fi
  fi
  if [ -s "$ROOTLESS_STATE/sysctls" ]; then
    tac "$ROOTLESS_STATE/sysctls" | while read -r path value; do
      echo "$value" > "$path"; log "$path: back to $value"
    done
    rm -f "$ROOTLESS_STATE/sysctls"
  fi
  if [ "$clean" = 1 ] && [ -d "$ROOTLESS_DIR" ]; then
    # The engine's data holds files of the user's subordinate ids and overlay mounts of its
    # namespace, which ended with it.
    rm -rf "$ROOTLESS_HOME" "$ROOTLESS_CONF"
    # The state stays while it still records something not put back.
    rmdir "$ROOTLESS_STATE" "$ROOTLESS_DIR" 2>/dev/null || true
    log "removed the rootless engine's data and configuration ($ROOTLESS_DIR)"
  fi
}

rootless_status() {
  if ! id "$ROOTLESS_USER" >/dev/null 2>&1; then
    echo "rootless engine: no user $ROOTLESS_USER"; return 1
  fi
  rootless_ids
  if alive "$ROOTLESS_PID"; then echo "rootless-dockerd: running as $ROOTLESS_USER (pid $(cat "$ROOTLESS_PID"))"
  else echo "rootless-dockerd: stopped"; return 1; fi
  if rootless_answers; then echo "BuildKit (rootless): unix://$ROOTLESS_XDG/docker.sock answers"
  else echo "BuildKit (rootless): unix://$ROOTLESS_XDG/docker.sock does not answer"; return 1; fi
  if rootless_registry_answers; then echo "rootless namespace: 127.0.0.1:5000 reaches the test registry"
  else echo "rootless namespace: 127.0.0.1:5000 does not reach the test registry"; return 1; fi
}
