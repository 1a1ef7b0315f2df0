#!/usr/bin/env bash
# The second Docker engine of dev-prism's tests: a current Engine (Debian
# forky's docker.io 28.x, containerd 2.x and docker-compose 2.40.x) running
# beside the machine's own engine, without touching it:
#   - its own network namespace (own iptables, own published ports),
#   - its own containerd (socket, root, state) and containerd namespace,
#   - its own --data-root, --exec-root, --pidfile, socket, cgroup parent and
#     a --config-file whose default-address-pools differ from the defaults,
#   - the newer Compose plugin in a private DOCKER_CONFIG, used only with it.
# Needs root and apt on Debian (bookworm or newer). The forky packages are
# only unpacked (dpkg -x) under $E2_HOME, never installed; runc is the
# system's (bookworm's runc 1.1: forky's needs glibc 2.38). They are fetched
# once: a machine keeps the versions it got (see $E2_HOME/pkgs/STAMP) until
# `purge`; forky is Debian's moving testing suite, so a new machine gets
# whatever it carries then (a major other than 28 is reported).
#
#   scripts/engine2.sh up          install (once) and start it; fast when it runs
#   scripts/engine2.sh exec CMD…   run CMD against it: in its network namespace,
#                                  with DOCKER_HOST, DOCKER_CONFIG and PATH set
#   scripts/engine2.sh env         print `export` lines for DOCKER_HOST,
#                                  DOCKER_CONFIG and PATH (no namespace: published
#                                  ports are not reachable from outside it)
#   scripts/engine2.sh vars        the same as VAR=VALUE lines (for `env`)
#   scripts/engine2.sh status      versions, or exit 1 when it is not running
#   scripts/engine2.sh down        stop its processes (data and netns stay)
#   scripts/engine2.sh purge       down, then remove its netns, data and packages
set -euo pipefail

E2_NAME="${DEV_PRISM_ENGINE2_NAME:-dev-prism-e2}"
E2_SUITE="${DEV_PRISM_ENGINE2_SUITE:-forky}"
E2_POOL="${DEV_PRISM_ENGINE2_POOL:-10.213.0.0/16}"
E2_HOME="/var/lib/$E2_NAME"        # packages, configs, data-root, containerd root
E2_RUN="/run/$E2_NAME"             # sockets, pid files, exec-root, containerd state
NETNS="$E2_NAME"
NSPATH="/var/run/netns/$NETNS"
SOCK="$E2_RUN/docker.sock"
CSOCK="$E2_RUN/containerd/containerd.sock"
PKGS="$E2_HOME/pkgs"               # the unpacked .debs and their versions
SBIN="$E2_HOME/sbin"               # daemons: dockerd, docker-proxy, containerd, shim
BIN="$E2_HOME/bin"                 # clients: docker (28.x CLI)
DCONFIG="$E2_HOME/docker-config"   # DOCKER_CONFIG with cli-plugins/docker-compose
LOGDIR="$E2_HOME/log"
# What the stamp in $PKGS names; a change here re-downloads.
PACKAGES=(docker.io docker-cli containerd docker-compose)

say() { printf 'engine2: %s\n' "$*" >&2; }
die() { printf 'engine2: error: %s\n' "$*" >&2; exit 1; }

# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

# The client pointed at engine 2 (no namespace needed for the API).
e2_docker() {
    DOCKER_HOST="unix://$SOCK" DOCKER_CONFIG="$DCONFIG" "$BIN/docker" "$@"
}

e2_running() {
    [ -S "$SOCK" ] && [ -x "$BIN/docker" ] && e2_docker info >/dev/null 2>&1
}

# ------------------------------------------------------------------ packages

packages_ok() {
    [ -f "$PKGS/STAMP" ] && [ "$(sed -n 1p "$PKGS/STAMP")" = "suite=$E2_SUITE packages=${PACKAGES[*]}" ] || return 1
    local f
    for f in "$SBIN/dockerd" "$SBIN/docker-proxy" "$SBIN/containerd" "$SBIN/containerd-shim-runc-v2" \
        "$SBIN/ctr" "$BIN/docker" "$DCONFIG/cli-plugins/docker-compose"; do
        [ -x "$f" ] || return 1
    done
}

install_packages() {
    packages_ok && return
    can_install || die "engine 2 needs root and apt-get (Debian) to unpack $E2_SUITE's ${PACKAGES[*]}"
    say "downloading ${PACKAGES[*]} from Debian $E2_SUITE"
    local tmp
    tmp="$(mktemp -d)"
    download_debs "$E2_SUITE" "$tmp" "${PACKAGES[@]}"
    local deb stamp="suite=$E2_SUITE packages=${PACKAGES[*]}"
    mkdir -p "$tmp/root"
    for deb in "$tmp"/*.deb; do
        dpkg -x "$deb" "$tmp/root"
        stamp+=$'\n'"$(dpkg-deb -f "$deb" Package)=$(dpkg-deb -f "$deb" Version)"
    done
    # Only the binaries are kept; the rest of the packages is not needed.
    rm -rf "$PKGS.new"
    mkdir -p "$PKGS.new"
    local f
    for f in usr/sbin/dockerd usr/sbin/docker-proxy usr/bin/containerd usr/bin/containerd-shim-runc-v2 \
        usr/bin/ctr usr/bin/docker usr/libexec/docker/cli-plugins/docker-compose; do
        [ -x "$tmp/root/$f" ] || { rm -rf "$tmp"; die "$f is missing from $E2_SUITE's packages"; }
        install -m 0755 "$tmp/root/$f" "$PKGS.new/${f##*/}"
    done
    printf '%s\n' "$stamp" >"$PKGS.new/STAMP"
    rm -rf "$tmp" "$PKGS"
    mv "$PKGS.new" "$PKGS"
    mkdir -p "$SBIN" "$BIN" "$DCONFIG/cli-plugins"
    for f in dockerd docker-proxy containerd containerd-shim-runc-v2 ctr; do
        ln -sfn "$PKGS/$f" "$SBIN/$f"
    done
    ln -sfn "$PKGS/docker" "$BIN/docker"
    ln -sfn "$PKGS/docker-compose" "$DCONFIG/cli-plugins/docker-compose"
    packages_ok || die "unpacking $E2_SUITE's packages left something missing"
    local engine_version
    engine_version="$(sed -n 's/^docker\.io=//p' "$PKGS/STAMP")"
    say "unpacked $(sed 1d "$PKGS/STAMP" | tr '\n' ' ')"
    case "$engine_version" in
        28.*) ;;
        *) say "note: $E2_SUITE now carries docker.io $engine_version, not 28.x" ;;
    esac
}

# What engine 2 runs that comes from the system: runc (bookworm's 1.1),
# iptables, ip (iproute2), nsenter (util-linux).
install_system_tools() {
    local missing=()
    command -v runc >/dev/null 2>&1 || missing+=(runc)
    command -v iptables >/dev/null 2>&1 || missing+=(iptables)
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)
    command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)
    [ ${#missing[@]} = 0 ] || apt_install "${missing[@]}"
}

# ------------------------------------------------------------------ configs

write_configs() {
    mkdir -p "$E2_HOME" "$LOGDIR" "$E2_RUN/containerd"
    # containerd 2.x; the CRI plugins are of no use to dockerd.
    cat >"$E2_HOME/containerd.toml.new" <<TOML
version = 3
root = "$E2_HOME/containerd"
state = "$E2_RUN/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime"]

[grpc]
  address = "$CSOCK"

[ttrpc]
  address = "$CSOCK.ttrpc"

[debug]
  address = "$E2_RUN/containerd/debug.sock"
  level = "warn"

[metrics]
  address = ""
TOML
    mv "$E2_HOME/containerd.toml.new" "$E2_HOME/containerd.toml"
    # Only what differs from a default engine; data-root, exec-root, pidfile
    # and the socket are flags (see start_dockerd).
    cat >"$E2_HOME/daemon.json.new" <<JSON
{
  "containerd": "$CSOCK",
  "containerd-namespace": "$E2_NAME",
  "containerd-plugins-namespace": "$E2_NAME-plugins",
  "default-address-pools": [{"base": "$E2_POOL", "size": 24}],
  "cgroup-parent": "/$E2_NAME",
  "userland-proxy-path": "$SBIN/docker-proxy",
  "shutdown-timeout": 2,
  "log-level": "warn"
}
JSON
    mv "$E2_HOME/daemon.json.new" "$E2_HOME/daemon.json"
}

# ------------------------------------------------------------------ processes

# pid_of FILE: the live pid recorded in FILE, if its executable is EXE.
pid_of() {
    local file="$1" exe="$2" pid
    [ -f "$file" ] || return 1
    pid="$(cat "$file" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" = "$(readlink -f "$exe")" ] || return 1
    echo "$pid"
}

ensure_netns() {
    [ -e "$NSPATH" ] || ip netns add "$NETNS"
    # A new namespace has its loopback down: published ports live on it.
    ip -n "$NETNS" link set lo up
}

# daemon_in_netns LOG CMD…: start the daemon CMD in the background, in engine
# 2's network namespace, with a clean environment; print its pid.
# nsenter, not `ip netns exec`: that remounts /sys and hides the cgroup mounts.
daemon_in_netns() {
    local log="$1"
    shift
    setsid nsenter --net="$NSPATH" -- env -i PATH="$SBIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        HOME=/root "$@" >>"$log" 2>&1 </dev/null &
    echo $!
}

wait_for() {
    local what="$1" tries="$2" log="$3"
    shift 3
    local _
    for _ in $(seq 1 "$tries"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.25
    done
    tail -30 "$log" >&2 || true
    die "$what did not come up (log: $log)"
}

start_containerd() {
    if pid_of "$E2_RUN/containerd.pid" "$SBIN/containerd" >/dev/null \
        && "$SBIN/ctr" --address "$CSOCK" version >/dev/null 2>&1; then
        return
    fi
    local log="$LOGDIR/containerd.log"
    : >"$log"
    local pid
    pid="$(daemon_in_netns "$log" containerd --config "$E2_HOME/containerd.toml")"
    echo "$pid" >"$E2_RUN/containerd.pid"
    wait_for "containerd ($E2_NAME)" 120 "$log" "$SBIN/ctr" --address "$CSOCK" version
}

start_dockerd() {
    local pid
    if pid="$(pid_of "$E2_RUN/docker.pid" "$SBIN/dockerd")"; then
        # Running but not (yet) answering: give it a moment, then give up.
        wait_for "dockerd ($E2_NAME, pid $pid)" 120 "$LOGDIR/dockerd.log" e2_docker info
        return
    fi
    local log="$LOGDIR/dockerd.log"
    : >"$log"
    rm -f "$E2_RUN/docker.pid" # stale: its process is gone (or another one has its pid)
    daemon_in_netns "$log" dockerd \
        --config-file "$E2_HOME/daemon.json" \
        --data-root "$E2_HOME/data" \
        --exec-root "$E2_RUN/exec" \
        --pidfile "$E2_RUN/docker.pid" \
        -H "unix://$SOCK" >/dev/null
    wait_for "dockerd ($E2_NAME)" 240 "$log" e2_docker info
    # This engine is only for tests. After a restart nothing can be running
    # on it: what a killed test run left behind (stopped containers, their
    # networks and volumes) goes, the test image stays.
    e2_docker container prune -f >/dev/null
    e2_docker network prune -f >/dev/null
    e2_docker volume prune -af >/dev/null
}

up() {
    if packages_ok && e2_running; then
        return
    fi
    [ "$(id -u)" = 0 ] || die "engine 2 needs root (a network namespace and a second dockerd)"
    install_system_tools
    install_packages
    write_configs
    ensure_netns
    start_containerd
    start_dockerd
    say "running: $(status_line)"
}

status_line() {
    printf 'Engine %s, containerd %s, Compose %s (DOCKER_HOST=unix://%s, netns %s)' \
        "$(e2_docker version --format '{{.Server.Version}}' 2>/dev/null)" \
        "$("$SBIN/ctr" --address "$CSOCK" version 2>/dev/null | awk '/^Server:/{s=1} s&&/Version:/{print $2; exit}')" \
        "$(e2_docker compose version --short 2>/dev/null)" "$SOCK" "$NETNS"
}

# stop PIDFILE EXE NAME: SIGTERM, then SIGKILL after a while.
stop_pid() {
    local pid
    pid="$(pid_of "$1" "$2")" || return 0
    say "stopping $3 (pid $pid)"
    kill "$pid" 2>/dev/null || true
    local _
    for _ in $(seq 1 120); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.25
    done
    kill -9 "$pid" 2>/dev/null || true
}

down() {
    stop_pid "$E2_RUN/docker.pid" "$SBIN/dockerd" dockerd
    stop_pid "$E2_RUN/containerd.pid" "$SBIN/containerd" containerd
    # Shims of this containerd only (their command line names its socket).
    local pid
    for pid in $(pgrep -f -- "-address $CSOCK( |$)" || true); do
        if [ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" = "$(readlink -f "$SBIN/containerd-shim-runc-v2")" ]; then
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
}

purge() {
    down
    # Nothing of ours may still be mounted before the directories go.
    local m
    awk '{print $2}' /proc/mounts | { grep -E "^($E2_HOME|$E2_RUN)/" || true; } | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done
    if [ -e "$NSPATH" ]; then
        ip netns del "$NETNS" || true
    fi
    rm -rf "$E2_HOME" "$E2_RUN"
    for m in /sys/fs/cgroup/*/"$E2_NAME" /sys/fs/cgroup/"$E2_NAME"; do
        if [ -d "$m" ]; then
            find "$m" -depth -type d -exec rmdir {} + 2>/dev/null || true
        fi
    done
    say "removed engine 2 ($E2_NAME)"
}

cmd="${1:-up}"
[ $# = 0 ] || shift
case "$cmd" in
    up) up ;;
    exec)
        [ $# -gt 0 ] || die "usage: $0 exec CMD [ARGS…]"
        e2_running || die "engine 2 is not running: run $0 up"
        exec nsenter --net="$NSPATH" -- env DOCKER_HOST="unix://$SOCK" DOCKER_CONFIG="$DCONFIG" \
            PATH="$BIN:$PATH" "$@"
        ;;
    env)
        printf 'export DOCKER_HOST=%q DOCKER_CONFIG=%q PATH=%q\n' "unix://$SOCK" "$DCONFIG" "$BIN:$PATH"
        ;;
    vars) # the same, one VAR=VALUE a line, unquoted (for `mapfile` and `env`)
        printf '%s\n' "DOCKER_HOST=unix://$SOCK" "DOCKER_CONFIG=$DCONFIG" "PATH=$BIN:$PATH"
        ;;
    status)
        e2_running || { say "not running"; exit 1; }
        status_line
        echo
        ;;
    down) down ;;
    purge) purge ;;
    *) die "unknown command '$cmd' (up, exec, env, status, down, purge)" ;;
esac
