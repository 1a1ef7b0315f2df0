# shellcheck shell=bash
# Shell helpers shared by scripts/test-env.sh and scripts/engine2.sh (sourced;
# the caller defines `say` and `die` first).

# Can this machine install Debian packages (root with apt-get)?
can_install() {
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1
}

# apt_install PKG…: install packages, updating the lists once if needed.
apt_install() {
    can_install || die "missing $*; install it (as root on Debian: apt-get install $*)"
    say "installing $* with apt-get"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/tmp/dev-prism-apt.log 2>&1; then
        apt-get update >/tmp/dev-prism-apt-update.log 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/tmp/dev-prism-apt.log 2>&1 \
            || { tail -20 /tmp/dev-prism-apt.log >&2; die "apt-get install $* failed"; }
    fi
}

# download_debs SUITE DIR PKG…: download the .deb files of PKG… from another
# Debian suite into DIR, with a temporary package list (the system's sources
# and lists are not touched; nothing is installed).
download_debs() {
    local suite="$1" dir="$2"
    shift 2
    mkdir -p "$dir/sources" "$dir/lists/partial" "$dir/archives/partial"
    cat >"$dir/sources/$suite.sources" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    local opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$dir/sources"
        -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache::Archives=$dir/archives"
        -o APT::Sandbox::User=root)
    apt-get "${opts[@]}" update >"$dir/update.log" 2>&1 \
        || { tail -20 "$dir/update.log" >&2; die "apt-get update for $suite failed"; }
    (cd "$dir" && apt-get "${opts[@]}" download "$@" >"$dir/download.log" 2>&1) \
        || { tail -20 "$dir/download.log" >&2; die "downloading $* from $suite failed"; }
}
