#!/usr/bin/env bash
# Make sure this machine can run dev-prism's docker tests:
#   1. a reachable Docker engine,
#   2. the Compose v2 CLI plugin, version >= 2.24.4,
#   3. the locally built test image (no registry is needed),
#   4. bash, zsh and fish, whose completion the tests drive.
#
# Idempotent and fast when everything is present. It only installs things on a
# Debian machine, as root, when they are missing; on a machine that already has
# Docker and Compose (a laptop, a CI runner) it installs nothing.
set -euo pipefail

TEST_IMAGE="${DEV_PRISM_TEST_IMAGE:-dev-prism-test/busybox:latest}"
MIN_COMPOSE="2.24.4"
COMPOSE_DEB_SUITE="${DEV_PRISM_COMPOSE_SUITE:-trixie}"

say() { printf 'test-env: %s\n' "$*" >&2; }
die() { printf 'test-env: error: %s\n' "$*" >&2; exit 1; }

can_install() {
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1
}

apt_install() {
    can_install || die "missing $*; install it (as root on Debian: apt-get install $*)"
    say "installing $* with apt-get"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/tmp/dev-prism-apt.log 2>&1; then
        apt-get update >/tmp/dev-prism-apt-update.log 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/tmp/dev-prism-apt.log 2>&1 \
            || { tail -20 /tmp/dev-prism-apt.log >&2; die "apt-get install $* failed"; }
    fi
}

# version_ge A B: is version A >= version B (dotted numbers)?
version_ge() {
    [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

ensure_engine() {
    if docker info >/dev/null 2>&1; then
        return
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        if command -v docker >/dev/null 2>&1 && [ -n "${DOCKER_HOST:-}" ]; then
            die "the engine at DOCKER_HOST=$DOCKER_HOST does not answer"
        fi
        apt_install docker.io
    fi
    command -v docker >/dev/null 2>&1 || apt_install docker.io
    say "starting dockerd (log: /tmp/dev-prism-dockerd.log)"
    setsid dockerd >/tmp/dev-prism-dockerd.log 2>&1 </dev/null &
    for _ in $(seq 1 120); do
        if docker info >/dev/null 2>&1; then
            return
        fi
        sleep 0.25
    done
    tail -20 /tmp/dev-prism-dockerd.log >&2 || true
    die "dockerd did not come up within 30 s"
}

compose_version() {
    docker compose version --short 2>/dev/null | sed 's/^v//'
}

ensure_compose() {
    local v
    v="$(compose_version || true)"
    if [ -n "$v" ] && version_ge "$v" "$MIN_COMPOSE"; then
        return
    fi
    can_install || die "Compose v2 >= $MIN_COMPOSE is needed (found: ${v:-none}); see https://docs.docker.com/compose/install/"
    say "installing the Compose v2 plugin from Debian $COMPOSE_DEB_SUITE (found: ${v:-none})"
    local tmp
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' RETURN
    mkdir -p "$tmp/sources" "$tmp/lists/partial" "$tmp/archives/partial"
    cat >"$tmp/sources/compose.sources" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $COMPOSE_DEB_SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    local opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$tmp/sources"
        -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache::Archives=$tmp/archives"
        -o APT::Sandbox::User=root)
    apt-get "${opts[@]}" update >"$tmp/update.log" 2>&1 \
        || { tail -20 "$tmp/update.log" >&2; die "apt-get update for $COMPOSE_DEB_SUITE failed"; }
    (cd "$tmp" && apt-get "${opts[@]}" download docker-compose >"$tmp/download.log" 2>&1) \
        || { tail -20 "$tmp/download.log" >&2; die "downloading docker-compose from $COMPOSE_DEB_SUITE failed"; }
    dpkg -x "$tmp"/docker-compose_*.deb "$tmp/root"
    local plugin
    plugin="$(find "$tmp/root" -path '*cli-plugins/docker-compose' -type f | head -n1)"
    [ -n "$plugin" ] || die "the docker-compose package has no CLI plugin"
    install -D -m 0755 "$plugin" /usr/local/lib/docker/cli-plugins/docker-compose
    v="$(compose_version || true)"
    [ -n "$v" ] && version_ge "$v" "$MIN_COMPOSE" \
        || die "installed Compose plugin reports version '${v:-none}', need >= $MIN_COMPOSE"
}

ensure_image() {
    if docker image inspect "$TEST_IMAGE" >/dev/null 2>&1; then
        return
    fi
    # A static busybox runs in an image with nothing else in it.
    local bb=/bin/busybox
    if ! dpkg -s busybox-static >/dev/null 2>&1; then
        if command -v apt-get >/dev/null 2>&1; then
            apt_install busybox-static
        else
            bb="$(command -v busybox || true)"
            [ -n "$bb" ] || die "a static busybox is needed to build $TEST_IMAGE"
        fi
    fi
    say "building $TEST_IMAGE from $bb"
    local tmp
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' RETURN
    mkdir -p "$tmp/root/bin" "$tmp/root/tmp" "$tmp/root/www" "$tmp/root/etc"
    cp "$bb" "$tmp/root/bin/busybox"
    local applet
    for applet in $("$bb" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$tmp/root/bin/$applet"
    done
    echo 'dev-prism test page' >"$tmp/root/www/index.html"
    echo 'root:x:0:0:root:/:/bin/sh' >"$tmp/root/etc/passwd"
    tar -C "$tmp/root" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' - "$TEST_IMAGE" >/dev/null
}

ensure_shells() {
    local missing=() shell
    for shell in bash zsh fish; do
        command -v "$shell" >/dev/null 2>&1 || missing+=("$shell")
    done
    [ "${#missing[@]}" = 0 ] || apt_install "${missing[@]}"
}

command -v git >/dev/null 2>&1 || apt_install git
ensure_shells
ensure_engine
ensure_compose
ensure_image
say "ok: engine $(docker version --format '{{.Server.Version}}' 2>/dev/null), compose $(compose_version), image $TEST_IMAGE"
