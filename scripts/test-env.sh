#!/usr/bin/env bash
# Make sure this machine can run dev-prism's docker tests, on two engine
# generations (DEV_PRISM_ENGINES=old|new|both, default both):
#   old: 1. a reachable Docker engine (the default one: DOCKER_HOST or the
#           machine's socket; on Debian, bookworm's Engine 20.10),
#        2. the Compose v2 CLI plugin, version >= 2.24.4,
#   new: a current Engine 28 + Compose 2.40 beside it (scripts/engine2.sh),
#   both: the locally built test image in each engine (no registry is
#        needed), checked by its content label, not just by name;
#   and bash, zsh and fish, whose completion the tests drive.
#
# Idempotent and fast when everything is present. It only installs things on a
# Debian machine, as root, when they are missing; on a machine that already has
# Docker and Compose (a laptop, a CI runner) it installs nothing for the old
# engine. The new engine needs root and apt (DEV_PRISM_ENGINES=old skips it).
set -euo pipefail
cd "$(dirname "$0")/.."

TEST_IMAGE="${DEV_PRISM_TEST_IMAGE:-dev-prism-test/busybox:latest}"
IMAGE_LABEL="dev-prism.test-image"
ENGINES="${DEV_PRISM_ENGINES:-both}"
case "$ENGINES" in
    old | new | both) ;;
    *) printf 'test-env: error: DEV_PRISM_ENGINES must be old, new or both (got %s)\n' "$ENGINES" >&2; exit 1 ;;
esac
MIN_COMPOSE="2.24.4"
COMPOSE_DEB_SUITE="${DEV_PRISM_COMPOSE_SUITE:-trixie}"

say() { printf 'test-env: %s\n' "$*" >&2; }
die() { printf 'test-env: error: %s\n' "$*" >&2; exit 1; }

# shellcheck source=scripts/lib.sh
. scripts/lib.sh  # the working directory is the repository root (cd above)

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
    download_debs "$COMPOSE_DEB_SUITE" "$tmp" docker-compose
    dpkg -x "$tmp"/docker-compose_*.deb "$tmp/root"
    local plugin
    plugin="$(find "$tmp/root" -path '*cli-plugins/docker-compose' -type f | head -n1)"
    [ -n "$plugin" ] || die "the docker-compose package has no CLI plugin"
    install -D -m 0755 "$plugin" /usr/local/lib/docker/cli-plugins/docker-compose
    v="$(compose_version || true)"
    [ -n "$v" ] && version_ge "$v" "$MIN_COMPOSE" \
        || die "installed Compose plugin reports version '${v:-none}', need >= $MIN_COMPOSE"
}

# The static busybox the test image is made of (installed when missing).
busybox_path() {
    if ! dpkg -s busybox-static >/dev/null 2>&1; then
        if command -v apt-get >/dev/null 2>&1; then
            apt_install busybox-static
        else
            command -v busybox || die "a static busybox is needed to build $TEST_IMAGE"
            return
        fi
    fi
    echo /bin/busybox
}

# build_rootfs BUSYBOX DIR: the test image's files. Its own text is part of
# the image's stamp: changing it rebuilds the image everywhere.
build_rootfs() {
    local bb="$1" root="$2" applet
    mkdir -p "$root/bin" "$root/tmp" "$root/www" "$root/etc"
    cp "$bb" "$root/bin/busybox"
    for applet in $("$bb" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
    done
    echo 'dev-prism test page' >"$root/www/index.html"
    echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
}

# image_stamp BUSYBOX: what the test image is made of (recipe + binary).
image_stamp() {
    { declare -f build_rootfs; sha256sum <"$1"; } | sha256sum | cut -c1-16
}

# ensure_image NAME STAMP BUSYBOX [VAR=VALUE…]: the test image, with the label
# STAMP, in the engine the environment VAR=VALUE… points at. An image found by
# name with another (or no) label is rebuilt.
ensure_image() {
    local engine="$1" stamp="$2" bb="$3"
    shift 3
    local have
    have="$(env "$@" docker image inspect --format "{{index .Config.Labels \"$IMAGE_LABEL\"}}" "$TEST_IMAGE" 2>/dev/null || true)"
    if [ "$have" = "$stamp" ]; then
        return
    fi
    say "building $TEST_IMAGE ($IMAGE_LABEL=$stamp) from $bb in the $engine engine${have:+ (it had $have)}"
    local tmp
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' RETURN
    build_rootfs "$bb" "$tmp/root"
    tar -C "$tmp/root" -c . | env "$@" docker import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' \
        -c "LABEL $IMAGE_LABEL=$stamp" - "$TEST_IMAGE" >/dev/null
    have="$(env "$@" docker image inspect --format "{{index .Config.Labels \"$IMAGE_LABEL\"}}" "$TEST_IMAGE" 2>/dev/null || true)"
    [ "$have" = "$stamp" ] || die "$TEST_IMAGE in the $engine engine has label '$have' after the build, expected $stamp"
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
bb="$(busybox_path)"
stamp="$(image_stamp "$bb")"
if [ "$ENGINES" != new ]; then
    ensure_engine
    ensure_compose
    ensure_image old "$stamp" "$bb"
    say "ok: old engine $(docker version --format '{{.Server.Version}}' 2>/dev/null), compose $(compose_version), image $TEST_IMAGE ($stamp)"
fi
if [ "$ENGINES" != old ]; then
    scripts/engine2.sh up
    mapfile -t e2_env < <(scripts/engine2.sh vars)
    ensure_image new "$stamp" "$bb" "${e2_env[@]}"
    say "ok: new engine $(scripts/engine2.sh status)"
fi
