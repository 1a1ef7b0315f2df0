#!/usr/bin/env bash
# Benchmark `.worktreeinclude` (issue 13), in one run: `dev-prism create` of a
# worktree whose .worktreeinclude matches a large node_modules-like tree,
# against `cp -a` of the same tree and against a `create` with nothing to copy.
# Goal: the copy costs no more than `cp -a` (<= 1.0x), and on a filesystem
# with reflinks adds <= 1 s to `create`.
#
# Usage: scripts/bench-include.sh        (scripts/bench.sh runs it too)
#   BENCH_INCLUDE_FILES=50000   files in the tree
#   BENCH_INCLUDE_MB=300        their total size, in MiB
#   BENCH_INCLUDE_ROUNDS=5      rounds; medians are reported
#   BENCH_INCLUDE_REFLINK=auto  also measure on fresh loop-mounted filesystems:
#                               ext4, and XFS with reflink (auto: when root with
#                               mkfs.xfs; 1: XFS required; 0: never)
#   BENCH_INCLUDE_DIR=/tmp      where the main measurement runs
#   BIN=path                    a built dev-prism (default: cargo build --release)
#   BENCH_OUT=DIR               where to keep logs and results
#
# Everything it makes lives in temp dirs: its sessions are destroyed by
# directory on exit, loop mounts are unmounted; nothing else is touched.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FILES=${BENCH_INCLUDE_FILES:-50000}
MB=${BENCH_INCLUDE_MB:-300}
ROUNDS=${BENCH_INCLUDE_ROUNDS:-5}
REFLINK=${BENCH_INCLUDE_REFLINK:-auto}
BASE_DIR=${BENCH_INCLUDE_DIR:-/tmp}
IMAGE=dev-prism-test/busybox:latest

export NO_COLOR=1
unset COMPOSE_FILE COMPOSE_PROJECT_NAME COMPOSE_PROFILES DEV_PRISM_HOST

say() { printf '==> %s\n' "$*" >&2; }
die() {
    printf 'bench-include: %s\n' "$*" >&2
    exit 1
}

command -v python3 >/dev/null || die "python3 is needed to generate the tree"
command -v jq >/dev/null || die "jq is needed (Debian: apt-get install -y jq)"
docker info >/dev/null 2>&1 || die "no reachable Docker engine: run scripts/test-env.sh"
docker image inspect "$IMAGE" >/dev/null 2>&1 || die "image $IMAGE is missing: run scripts/test-env.sh"

if [[ -z ${BIN:-} ]]; then
    say "cargo build --release"
    BIN=$(cd "$ROOT" && cargo build --release --message-format=json-render-diagnostics |
        jq -r 'select(.reason == "compiler-artifact" and .target.name == "dev-prism" and .executable != null) | .executable' |
        tail -n 1)
fi
[[ -x $BIN ]] || die "no dev-prism binary at '$BIN'"
OUT=${BENCH_OUT:-$(mktemp -d /tmp/dev-prism-bench-include.XXXXXX)}
mkdir -p "$OUT"
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid

WORKS=()  # workspaces to clean
MOUNTS=() # loop mounts to unmount
IMGS=()   # and their images
cleanup() {
    local rc=$? w dir
    trap - EXIT INT TERM
    set +e
    for w in "${WORKS[@]}"; do
        [[ -f $w/sessions ]] || continue
        while read -r dir; do
            [[ -d $dir ]] && "$BIN" -q destroy --force "$dir" >/dev/null 2>&1
        done <"$w/sessions"
        rm -rf "$w"
    done
    for dir in "${MOUNTS[@]}"; do
        umount "$dir" && rmdir "$dir"
    done
    for dir in "${IMGS[@]}"; do
        rm -f "$dir"
    done
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'; }

# A node_modules-like tree: packages of 20 files (3 directories each), most
# of them small, a few large, and `.bin` symlinks; $3 MiB in $2 files.
make_tree() {
    python3 - "$1" "$2" "$3" <<'PY'
import os, random, sys
root, nfiles, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(13)
total = mib << 20
big = max(1, nfiles // 500)
small = nfiles - big
small_avg = int(total * 0.75) // max(small, 1)
big_avg = (total - small_avg * small) // big
pool = os.urandom(16 << 20)
def write(path, size):
    with open(path, "wb") as f:
        while size > 0:
            n = min(size, len(pool))
            off = random.randrange(0, len(pool) - n + 1)
            f.write(pool[off:off + n])
            size -= n
os.makedirs(os.path.join(root, ".bin"))
made = 0
pkg = 0
while made < nfiles:
    p = os.path.join(root, "pkg-%d" % pkg)
    for d in ("lib/sub",):
        os.makedirs(os.path.join(p, d))
    for i in range(20):
        if made >= nfiles:
            break
        sub = ("", "lib", "lib/sub")[i % 3]
        name = os.path.join(p, sub, "file-%d.js" % i)
        if made < big:
            size = random.randint(big_avg // 2, big_avg * 3 // 2)
        else:
            size = random.randint(max(1, small_avg // 4), small_avg * 7 // 4)
        write(name, size)
        made += 1
    if pkg < 200:
        os.symlink("../pkg-%d/file-0.js" % pkg, os.path.join(root, ".bin", "tool-%d" % pkg))
    pkg += 1
PY
}

# One workspace on the filesystem of $1: a repository with the tree as its
# (ignored) node_modules. Sets WORK and REPO.
setup_repo() {
    WORK=$(mktemp -d "$1/dev-prism-bench-include.XXXXXX")
    WORK=$(cd "$WORK" && pwd -P)
    WORKS+=("$WORK")
    : >"$WORK/sessions"
    REPO=$WORK/app
    mkdir -p "$REPO"
    cat >"$REPO/compose.yaml" <<EOF
services:
  web:
    image: $IMAGE
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    stop_signal: SIGKILL
    ports: ["8080"]
EOF
    printf 'node_modules/\n.worktreeinclude\n' >"$REPO/.gitignore"
    git -C "$REPO" init -q -b main
    git -C "$REPO" add -A
    git -C "$REPO" commit -q -m init
    say "generating $FILES files, $MB MiB in $REPO/node_modules"
    make_tree "$REPO/node_modules" "$FILES" "$MB"
}

# Measure on the workspace set up by setup_repo; $1 labels the results.
measure() {
    local label=$1 tag=${1//[^A-Za-z0-9]/_} i dir t0 t1 log
    local with=() without=() added=() copy=() cpa=() destroy=() how=""
    for ((i = 1; i <= ROUNDS; i++)); do
        for step in $( ((i % 2)) && echo "with without cp" || echo "cp without with"); do
            sync
            case $step in
            with | without)
                dir=$WORK/app-sessions/$step-$i
                echo "$dir" >>"$WORK/sessions"
                log=$OUT/$tag-create-$step-$i.log
                if [[ $step == with ]]; then echo 'node_modules/' >"$REPO/.worktreeinclude"; else rm -f "$REPO/.worktreeinclude"; fi
                t0=$(now)
                (cd "$REPO" && "$BIN" create --branch "$step-$i") >"$log" 2>&1 || { cat "$log" >&2; die "create failed"; }
                t1=$(now)
                if [[ $step == with ]]; then
                    with+=("$(ms "$t0" "$t1")")
                    # dev-prism's own timing of the copy step
                    copy+=("$(sed -nE 's/.*Copied \.worktreeinclude: .* in ([0-9.]+)s.*/\1/p' "$log" | awk '{ printf "%.0f", $1 * 1000 }')")
                    grep -q 'copy-on-write' "$log" && how="copy-on-write" || how="${how:-copied}"
                    [[ -f $dir/node_modules/pkg-0/file-0.js ]] || die "the tree was not copied (see $log)"
                else
                    without+=("$(ms "$t0" "$t1")")
                fi
                t0=$(now)
                "$BIN" -q destroy "$dir" >>"$log" 2>&1 || { cat "$log" >&2; die "destroy failed"; }
                t1=$(now)
                [[ $step == with ]] && destroy+=("$(ms "$t0" "$t1")")
                ;;
            cp)
                t0=$(now)
                cp -a "$REPO/node_modules" "$WORK/cp-$i"
                t1=$(now)
                cpa+=("$(ms "$t0" "$t1")")
                rm -rf "$WORK/cp-$i"
                ;;
            esac
        done
        added+=($((with[-1] - without[-1])))
    done
    local W N A C P D
    W=$(median "${with[@]}")
    N=$(median "${without[@]}")
    A=$(median "${added[@]}")
    C=$(median "${copy[@]}")
    P=$(median "${cpa[@]}")
    D=$(median "${destroy[@]}")
    say "$label: create with copy ${with[*]} ms; without ${without[*]} ms; copy step ${copy[*]} ms; cp -a ${cpa[*]} ms"
    ROWS+=("| $label: \`create\` with .worktreeinclude ($how) | $W ms | $N ms (nothing to copy) | +$A ms |")
    ROWS+=("| $label: the copy step (dev-prism's own timing) | $C ms | $P ms (\`cp -a\`) | $(ratio "$C" "$P") |")
    ROWS+=("| $label: what the copy adds to \`create\` | $A ms | $P ms (\`cp -a\`) | $(ratio "$A" "$P") |")
    ROWS+=("| $label: \`destroy\` of that session | $D ms | - | - |")
}

ROWS=()
fstype() { stat -f -c %T "$1"; }
setup_repo "$BASE_DIR"
measure "$(fstype "$WORK")"

# Measure again on a fresh loop-mounted filesystem of type $1 (mkfs options
# $3...), labelled $2: an ext4 without the host disk's history, and an XFS
# with reflink (copy-on-write).
on_loop() {
    local fs=$1 label=$2 img mnt
    shift 2
    img=$(mktemp /tmp/dev-prism-bench-loop.XXXXXX.img)
    mnt=$(mktemp -d /tmp/dev-prism-bench-loop.XXXXXX)
    IMGS+=("$img")
    truncate -s $((MB * 4 + 1024))M "$img"
    if "mkfs.$fs" -q "$@" "$img" && mount -o loop "$img" "$mnt"; then
        MOUNTS+=("$mnt")
        say "measuring again on $label ($mnt)"
        setup_repo "$mnt"
        measure "$label"
    else
        rmdir "$mnt"
        say "could not mount a loop $fs here: $label not measured"
        return 1
    fi
}

loops=0
case $REFLINK in
1) loops=1 ;;
auto) [[ $(id -u) == 0 ]] && command -v mkfs.xfs >/dev/null && loops=1 ;;
esac
if ((loops)); then
    if command -v mkfs.ext4 >/dev/null; then
        on_loop ext4 "ext4 (loop, no reflink)" -F || true
    fi
    on_loop xfs "xfs (loop, reflink)" -m reflink=1 || [[ $REFLINK != 1 ]] || die "no XFS with reflink"
fi

{
    echo
    echo "dev-prism $("$BIN" --version | awk '{ print $2 }'), $FILES files / $MB MiB (node_modules-like), median of $ROUNDS rounds, warm page cache, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(cp --version | head -n 1)"
    echo
    echo "| measure | dev-prism | baseline | ratio |"
    echo "|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
} | tee "$OUT/include-results.md"
say "logs kept in $OUT"
