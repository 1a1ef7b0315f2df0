#!/usr/bin/env bash
# Benchmark dev-prism (issues 6 and 11): session discovery (`list -g`, `info`)
# against the bare `docker ps` + `docker container inspect` it is built on, the
# number of docker processes discovery starts, peak memory, `create --in-place`
# against its raw docker compose steps, start-up time and binary size; `list`
# with the git state of 20 worktree sessions against the same pair, and
# `destroy --all` of 4 sessions against one session's `destroy`.
#
# Usage: scripts/bench.sh
#   BENCH_SECTIONS="create discovery startup listgit bulk baseline soak"  what to measure
#   BENCH_SIZES="1 10 30"  numbers of sessions to measure discovery at
#   BENCH_RUNS=40          hyperfine runs per discovery command
#   BENCH_PARALLEL=4       sessions created / destroyed at once
#   BENCH_SETTLE=10        seconds to let the engine settle after creating
#   BENCH_GIT_SESSIONS=20  worktree sessions for `list` with git state
#   BENCH_BULK_ROUNDS=3    rounds of destroy (1 session) vs destroy --all (4)
#   BENCH_BASELINE_REF=231393c  the earlier release `create` is compared with (built here)
#   BENCH_BASELINE_ROUNDS=5     rounds of create (current) vs create (baseline)
#   BENCH_SOAK_SECS=60     seconds of the soak (scripts/soak.sh)
#   BENCH_OUT=DIR          where to keep the raw results (default: a new /tmp dir)
#   BENCH_INCLUDE=0        skip the .worktreeinclude benchmark (scripts/bench-include.sh,
#                          run last with the same binary; its own knobs apply)
#
# Everything it makes lives under one temp dir: sessions (each a tiny compose
# project of busybox services, created with `dev-prism create --in-place`, or
# as worktrees of throwaway repositories there) and plain compose projects for
# the baselines. On exit it destroys exactly those,
# by directory, and never touches any other session on the engine.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
read -r -a SIZES <<<"${BENCH_SIZES:-1 10 30}"
read -r -a SECTIONS <<<"${BENCH_SECTIONS:-create discovery startup listgit bulk baseline soak}"
RUNS=${BENCH_RUNS:-40}
PARALLEL=${BENCH_PARALLEL:-4}
IMAGE=dev-prism-test/busybox:latest

export NO_COLOR=1
# Commits in the throwaway repositories: a fixed identity, no user config.
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid
unset COMPOSE_FILE COMPOSE_PROJECT_NAME COMPOSE_PROFILES DEV_PRISM_HOST

say() { printf '==> %s\n' "$*" >&2; }
want() { [[ " ${SECTIONS[*]} " == *" $1 "* ]]; }
die() {
    printf 'bench: %s\n' "$*" >&2
    exit 1
}

# --- tools -----------------------------------------------------------------
need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v strace >/dev/null || need+=(strace)
command -v jq >/dev/null || need+=(jq)
[[ -x /usr/bin/time ]] || need+=(time)
if ((${#need[@]})); then
    if ! command -v apt-get >/dev/null || [[ $(id -u) != 0 ]]; then
        die "missing ${need[*]}: install them (Debian: apt-get install -y ${need[*]})"
    fi
    say "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; }
fi
DOCKER=$(command -v docker) || die "docker is not installed: run scripts/test-env.sh"
docker info >/dev/null 2>&1 || die "no reachable Docker engine: run scripts/test-env.sh"
docker image inspect "$IMAGE" >/dev/null 2>&1 || die "image $IMAGE is missing: run scripts/test-env.sh"

# --- build -----------------------------------------------------------------
say "cargo build --release"
BIN=$(cd "$ROOT" && cargo build --release --message-format=json-render-diagnostics |
    jq -r 'select(.reason == "compiler-artifact" and .target.name == "dev-prism" and .executable != null) | .executable' |
    tail -n 1)
[[ -x $BIN ]] || die "cargo build did not produce the dev-prism binary"

# --- workspace and cleanup ---------------------------------------------------
WORK=$(mktemp -d /tmp/dev-prism-bench.XXXXXX)
WORK=$(cd "$WORK" && pwd -P)
OUT=${BENCH_OUT:-$(mktemp -d /tmp/dev-prism-bench-results.XXXXXX)}
mkdir -p "$OUT" "$WORK/logs"
SESSIONS=$WORK/sessions # directories passed to `dev-prism create`, one a line
: >"$SESSIONS"
TAG=dpbench$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n') # raw compose project names

# Compose projects whose containers were started from a directory under $WORK.
own_projects() {
    local ids
    ids=$(docker ps -aq 2>/dev/null) || return 0
    [[ -n $ids ]] || return 0
    # shellcheck disable=SC2086
    docker container inspect $ids 2>/dev/null | jq -r --arg w "$WORK/" '
        .[] | .Config.Labels // {}
        | select(((.["dev-prism.working_dir"] // "") + "/" | startswith($w))
              or ((.["com.docker.compose.project.working_dir"] // "") + "/" | startswith($w)))
        | .["com.docker.compose.project"] // empty' | sort -u
}

cleanup() {
    local rc=$? dir project
    trap - EXIT INT TERM
    set +e
    if [[ -s $SESSIONS ]]; then
        say "cleanup: destroying the sessions this run created"
        # Only directories this run passed to `create` that really are a
        # session's directory (`destroy DIR` would also take an ancestor's).
        "$BIN" list -g --json 2>/dev/null | jq -r '.[].working_dir' >"$WORK/live" 2>/dev/null
        grep -Fxf "$WORK/live" "$SESSIONS" | sort -u | tr '\n' '\0' |
            xargs -0 -r -n 1 -P "$PARALLEL" "$BIN" -q destroy --force -t 0 >/dev/null 2>&1
    fi
    # Fallback: anything still running from our temp dir (failed creates,
    # the raw baseline projects).
    for project in $(own_projects); do
        docker compose -p "$project" down -v --remove-orphans -t 1 >/dev/null 2>&1
    done
    [[ ! -d $WORK/baseline-src ]] || git -C "$ROOT" worktree remove --force "$WORK/baseline-src" >/dev/null 2>&1
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers ----------------------------------------------------------------
# A compose project dir: a web service, plus an api service when $2 is 2.
# With $3 = bridge the services join Docker's default bridge instead of a
# project network: Docker's default address pools hold only ~30 networks,
# fewer than the sessions measured here plus whatever else is on the engine.
fixture() {
    local dir=$1 services=${2:-1} net=${3:-}
    mkdir -p "$dir"
    {
        echo "services:"
        echo "  web:"
        echo "    image: $IMAGE"
        echo '    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]'
        echo '    ports: ["8080"]'
        echo "    stop_signal: SIGKILL"
        [[ $net != bridge ]] || echo "    network_mode: bridge"
        if [[ $services == 2 ]]; then
            echo "  api:"
            echo "    image: $IMAGE"
            echo '    command: ["httpd", "-f", "-p", "3000", "-h", "/www"]'
            echo '    ports: ["3000"]'
            echo "    stop_signal: SIGKILL"
            [[ $net != bridge ]] || echo "    network_mode: bridge"
        fi
    } >"$dir/compose.yaml"
}

# Create sessions s-<from>..s-<to> in parallel batches; half have two services.
created=0
create_sessions() {
    local to=$1 i dir pids=() failed=0
    for ((i = created + 1; i <= to; i++)); do
        dir=$WORK/s-$i
        fixture "$dir" $((i % 2 + 1)) bridge
        echo "$dir" >>"$SESSIONS"
        (cd "$dir" && "$BIN" create --in-place) >"$WORK/logs/create-$i.log" 2>&1 &
        pids+=($!)
        if ((${#pids[@]} >= PARALLEL)); then
            wait "${pids[@]}" || failed=1
            pids=()
        fi
    done
    if ((${#pids[@]})); then wait "${pids[@]}" || failed=1; fi
    if ((failed)); then
        tail -n 20 "$WORK"/logs/create-*.log >&2
        die "a create failed"
    fi
    created=$to
}

plural() { if (($1 == 1)); then echo "$1 $2"; else echo "$1 $2s"; fi; }
now() { date +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Mean / median of command $2 of a hyperfine JSON export, in ms.
mean_ms() { jq -r --argjson i "$2" '.results[$i].mean * 1000' "$1"; }
median_ms() { jq -r --argjson i "$2" '.results[$i].median * 1000' "$1"; }
# CPU time (user + system, of the command and its children), in ms: less
# sensitive to other load on the machine than wall time.
cpu_ms() { jq -r --argjson i "$2" '(.results[$i].user + .results[$i].system) * 1000' "$1"; }
fmt() { awk -v v="$1" 'BEGIN { printf (v < 10 ? "%.2f" : "%.1f"), v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'; }

# Run a command under strace and print "<top-level docker execs> <other execs
# below it>": an exec of a file named `docker` by a direct child of the
# command counts as a docker process it started; anything those run (CLI
# plugins, …) is counted separately.
# The docker command lines go to $OUT/docker-calls-<label>.txt.
count_docker() {
    local label=$1 trace=$WORK/strace.out
    shift
    # (a container removed by someone else between ps and inspect makes
    # discovery exit 1; the count is still right)
    strace -f -qq -s 200 -o "$trace" -e trace=execve,clone,clone3,fork,vfork "$@" >/dev/null 2>&1 || true
    grep -E ' execve\("[^"]*/docker"' "$trace" | sed -E 's/^[0-9]+ +execve\("[^"]*", \[//; s/\], 0x.*//' \
        >"$OUT/docker-calls-$label.txt" || true
    awk '
        NR == 1 { root = $1 }
        /(clone3?|fork)\(/ || /<\.\.\. (clone3?|v?fork) resumed>/ {
            if (match($0, /= [0-9]+$/)) parent[substr($0, RSTART + 2)] = $1
        }
        / execve\("/ { p = $0; sub(/^[0-9]+ +execve\("/, "", p); sub(/".*/, "", p); pending[$1] = p }
        /execve/ && / = 0$/ && ($1 in pending) {
            n = split(pending[$1], parts, "/"); ne++; epid[ne] = $1; ebase[ne] = parts[n]
            delete pending[$1]
        }
        END {
            # What ran in a process before exec i: its own previous exec, or
            # the nearest ancestor thread/process image (a vfork child may
            # exec before strace prints its parent clone returning).
            for (i = 2; i <= ne; i++) {
                img = ""; q = epid[i]
                while (img == "" && q != "") {
                    for (j = i - 1; j >= 1; j--) if (epid[j] == q) { img = ebase[j]; break }
                    if (img == "") q = (q in parent) ? parent[q] : ""
                }
                if (ebase[i] == "docker" && img == ebase[1]) top++; else other++
            }
            printf "%d %d\n", top, other
        }' "$trace"
}

engine_sessions() {
    local ids
    ids=$(docker ps -aq --filter label=dev-prism.managed=true)
    [[ -n $ids ]] || { echo 0; return; }
    # shellcheck disable=SC2086
    docker container inspect $ids 2>/dev/null | jq '[.[].Config.Labels["dev-prism.working_dir"]] | unique | length'
}

ROWS=()
PAIR_CMD="docker container inspect \$(docker ps -a --filter label=dev-prism.managed=true -q) >/dev/null"
row() { ROWS+=("| $1 | $2 | $3 | $4 |"); }

if want create; then
# --- 1. create --in-place vs its raw steps ----------------------------------
ROUNDS=7
say "create --in-place vs docker compose config + up -d + inspect ($ROUNDS rounds)"
create_ms=()
raw_ms=()
config_ms=()
up_ms=()
ready_ms=()
overhead_ms=()
# The raw steps of create, on an identical project that is not a session.
raw_create() {
    local round=$1 dir=$WORK/raw-$1 project=$TAG-raw-$1 t0 t1 t2 t3 ids states
    fixture "$dir" 2
    local compose=(docker compose -p "$project" --project-directory "$dir" -f "$dir/compose.yaml")
    t0=$(now)
    "${compose[@]}" config --format json >/dev/null
    t1=$(now)
    "${compose[@]}" up -d >"$WORK/logs/raw-up-$round.log" 2>&1
    t2=$(now)
    while :; do
        ids=$(docker ps -aq --no-trunc --filter "label=com.docker.compose.project=$project")
        # shellcheck disable=SC2086
        states=$(docker container inspect --format '{{.State.Status}}' $ids)
        grep -qv '^running$' <<<"$states" || break
    done
    t3=$(now)
    config_ms+=("$(ms "$t0" "$t1")")
    up_ms+=("$(ms "$t1" "$t2")")
    ready_ms+=("$(ms "$t2" "$t3")")
    raw_ms+=("$(ms "$t0" "$t3")")
    "${compose[@]}" down -v -t 1 >/dev/null 2>&1
}
# dev-prism create on an identical project, then destroy.
dp_create() {
    local round=$1 dir=$WORK/c-$1 t0 t1
    fixture "$dir" 2
    echo "$dir" >>"$SESSIONS"
    t0=$(now)
    (cd "$dir" && "$BIN" create --in-place) >"$WORK/logs/c-$round.log" 2>&1 ||
        { cat "$WORK/logs/c-$round.log" >&2; die "create failed"; }
    t1=$(now)
    create_ms+=("$(ms "$t0" "$t1")")
    "$BIN" -q destroy "$dir" >/dev/null 2>&1
}
for ((round = 1; round <= ROUNDS; round++)); do
    # alternate the order so that drift of the engine does not favour one
    if ((round % 2)); then raw_create "$round"; dp_create "$round"; else dp_create "$round"; raw_create "$round"; fi
    overhead_ms+=($((create_ms[-1] - raw_ms[-1])))
done
CREATE=$(median "${create_ms[@]}")
RAW=$(median "${raw_ms[@]}")
OVERHEAD=$(median "${overhead_ms[@]}")
say "create: ${create_ms[*]} ms; raw steps: ${raw_ms[*]} ms (config ${config_ms[*]}, up ${up_ms[*]}, ready ${ready_ms[*]})"

# Docker processes one create starts (a fresh session, not timed).
dir=$WORK/c-strace
fixture "$dir" 2
echo "$dir" >>"$SESSIONS"
read -r CREATE_DOCKER _ < <(cd "$dir" && count_docker create "$BIN" create --in-place)
"$BIN" -q destroy "$dir" >/dev/null 2>&1
fi

if want discovery; then
# --- 2. discovery at 1, 10, 30 sessions --------------------------------------
PAIR=$PAIR_CMD
# shellcheck disable=SC2034 # the *_DOCKER/*_OTHER arrays are read through `counts`
declare -A LIST_CPU PAIR_CPU INFO_CPU LIST_MED PAIR_MED INFO_MED LIST_MS PAIR_MS INFO_MS LIST_DOCKER INFO_DOCKER LIST_OTHER INFO_OTHER ENGINE
for n in "${SIZES[@]}"; do
    say "creating sessions up to $n"
    create_sessions "$n"
    ENGINE[$n]=$(engine_sessions)
    # let the engine settle after the burst of creates before timing
    sleep "${BENCH_SETTLE:-10}"
    say "timing list -g / info with $n sessions of ours (${ENGINE[$n]} on the engine)"
    # --ignore-failure: other tests on the engine may remove a container
    # between ps and inspect, which makes both sides exit 1 for that run.
    hyperfine --style basic --ignore-failure --warmup 5 --runs "$RUNS" --export-json "$OUT/discovery-$n.json" \
        -n "dev-prism list -g" "$BIN list -g" \
        -n "dev-prism info" "$BIN info $WORK/s-1" \
        -n "docker ps + inspect" "$PAIR" >"$OUT/discovery-$n.txt" 2>&1 ||
        { cat "$OUT/discovery-$n.txt" >&2; die "hyperfine failed"; }
    LIST_MS[$n]=$(mean_ms "$OUT/discovery-$n.json" 0)
    INFO_MS[$n]=$(mean_ms "$OUT/discovery-$n.json" 1)
    PAIR_MS[$n]=$(mean_ms "$OUT/discovery-$n.json" 2)
    LIST_MED[$n]=$(median_ms "$OUT/discovery-$n.json" 0)
    INFO_MED[$n]=$(median_ms "$OUT/discovery-$n.json" 1)
    PAIR_MED[$n]=$(median_ms "$OUT/discovery-$n.json" 2)
    LIST_CPU[$n]=$(cpu_ms "$OUT/discovery-$n.json" 0)
    INFO_CPU[$n]=$(cpu_ms "$OUT/discovery-$n.json" 1)
    PAIR_CPU[$n]=$(cpu_ms "$OUT/discovery-$n.json" 2)
    read -r "LIST_DOCKER[$n]" "LIST_OTHER[$n]" < <(count_docker "list-$n" "$BIN" list -g)
    read -r "INFO_DOCKER[$n]" "INFO_OTHER[$n]" < <(count_docker "info-$n" "$BIN" info "$WORK/s-1")
done
LAST=${SIZES[-1]}

# --- 3. peak memory of list at the largest size --------------------------------
say "peak RSS of list -g with $LAST sessions"
rss_tree=()
for _ in 1 2 3 4 5; do
    /usr/bin/time -v "$BIN" list -g >/dev/null 2>"$WORK/time.out" || true
    rss_tree+=("$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time.out")")
done
RSS_TREE=$(median "${rss_tree[@]}")
# /usr/bin/time reports the largest process of the tree, i.e. the docker CLI
# children that list waits for. dev-prism's own peak: hold it in exit_group
# (strace delay injection) and read VmHWM from /proc while it waits.
rss_self=()
for _ in 1 2 3; do
    strace -qq -o /dev/null -e trace=exit_group -e inject=exit_group:delay_enter=400000 \
        "$BIN" list -g >/dev/null 2>&1 &
    tracer=$!
    hwm=0
    while kill -0 "$tracer" 2>/dev/null; do
        for pid in $(pgrep -P "$tracer" 2>/dev/null); do
            v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
            if [[ -n $v ]] && ((v > hwm)); then hwm=$v; fi
        done
        sleep 0.02
    done
    wait "$tracer" || true
    rss_self+=("$hwm")
done
RSS_SELF=$(median "${rss_self[@]}")
DOCKER_RSS=()
for _ in 1 2 3; do
    /usr/bin/time -v docker ps -a --filter label=dev-prism.managed=true -q >/dev/null 2>"$WORK/time.out" || true
    DOCKER_RSS+=("$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time.out")")
done
RSS_DOCKER=$(median "${DOCKER_RSS[@]}")
fi

if want startup; then
# --- 4. start-up time and size ----------------------------------------------------
say "dev-prism --version"
hyperfine --style basic -N --warmup 20 --runs 300 --export-json "$OUT/version.json" \
    -n "dev-prism --version" "$BIN --version" \
    -n "docker --version" "$DOCKER --version" >"$OUT/version.txt" 2>&1 ||
    { cat "$OUT/version.txt" >&2; die "hyperfine failed"; }
VERSION_MS=$(mean_ms "$OUT/version.json" 0)
DOCKER_VERSION_MS=$(mean_ms "$OUT/version.json" 1)
SIZE=$(stat -c %s "$BIN")
fi

# --- 5. list with the git state of 20 worktree sessions ------------------------
# A throwaway repository with a one-service stack; its sessions are worktrees.
git_repo() {
    local dir=$1
    fixture "$dir" 1 bridge
    git -C "$dir" init -q -b main
    git -C "$dir" add -A
    git -C "$dir" commit -q -m init
}
# One worktree session; a second try when git trips over a concurrent
# `worktree add` ("failed to read .git/worktrees/…/commondir"; the failed
# create rolled itself back).
create_worktree() {
    local repo=$1 branch=$2 try
    for try in 1 2 3; do
        (cd "$repo" && "$BIN" create --branch "$branch") && return 0
        echo "(try $try failed)"
    done
    return 1
}
# Create worktree sessions <prefix>-<from>..<to> of repo $1, $PARALLEL at once.
create_worktrees() {
    local repo=$1 prefix=$2 from=$3 to=$4 i pids=() failed=0
    for ((i = from; i <= to; i++)); do
        echo "$(dirname "$repo")/$(basename "$repo")-sessions/$prefix-$i" >>"$SESSIONS"
        create_worktree "$repo" "$prefix-$i" >"$WORK/logs/wt-$prefix-$i.log" 2>&1 &
        pids+=($!)
        if ((${#pids[@]} >= PARALLEL)); then
            wait "${pids[@]}" || failed=1
            pids=()
        fi
    done
    if ((${#pids[@]})); then wait "${pids[@]}" || failed=1; fi
    if ((failed)); then
        tail -n 20 "$WORK"/logs/wt-"$prefix"-*.log >&2
        die "a create failed"
    fi
}
if want listgit; then
    GIT_N=${BENCH_GIT_SESSIONS:-20}
    GREPO=$WORK/gitrepo
    git_repo "$GREPO"
    say "creating $GIT_N worktree sessions for list with git state"
    create_worktrees "$GREPO" g 1 "$GIT_N"
    # Some work in them, as in real use: changed files and commits.
    for ((i = 1; i <= GIT_N; i += 3)); do
        d=$WORK/gitrepo-sessions/g-$i
        echo "change $i" >"$d/notes-$i.txt"
        git -C "$d" add "notes-$i.txt" && git -C "$d" commit -q -m "work $i"
        echo "more" >"$d/wip.txt"
    done
    GIT_ENGINE=$(engine_sessions)
    sleep "${BENCH_SETTLE:-10}"
    say "timing list (git state of $GIT_N sessions) vs docker ps + inspect"
    hyperfine --style basic --ignore-failure --warmup 5 --runs "$RUNS" --export-json "$OUT/listgit.json" \
        -n "dev-prism list" "cd $GREPO && $BIN list" \
        -n "docker ps + inspect" "$PAIR_CMD" >"$OUT/listgit.txt" 2>&1 ||
        { cat "$OUT/listgit.txt" >&2; die "hyperfine failed"; }
    LG_MS=$(mean_ms "$OUT/listgit.json" 0)
    LG_MED=$(median_ms "$OUT/listgit.json" 0)
    LG_CPU=$(cpu_ms "$OUT/listgit.json" 0)
    LGP_MS=$(mean_ms "$OUT/listgit.json" 1)
    LGP_MED=$(median_ms "$OUT/listgit.json" 1)
    LGP_CPU=$(cpu_ms "$OUT/listgit.json" 1)
    strace -f -qq -o "$WORK/git.trace" -e trace=execve "$BIN" -C "$GREPO" list >/dev/null 2>&1 || true
    LG_GIT=$(grep -c 'execve("[^"]*/git", .* = 0$' "$WORK/git.trace" || true)
    LG_RATIO=$(awk -v a="$LG_MED" -v b="$LGP_MED" 'BEGIN { printf "%.2f", a / b }')
    say "list with git state: ${LG_RATIO}× the docker pair (median)"
fi

# --- 6. destroy --all of 4 sessions vs destroy of one ---------------------------
if want bulk; then
    BULK_ROUNDS=${BENCH_BULK_ROUNDS:-3}
    BREPO=$WORK/bulkrepo
    git_repo "$BREPO"
    one_ms=()
    all_ms=()
    for ((r = 1; r <= BULK_ROUNDS; r++)); do
        say "bulk round $r: destroy of 1 session, destroy --all of 4"
        create_worktrees "$BREPO" "one$r" 1 1
        t0=$(now)
        "$BIN" -q destroy "$WORK/bulkrepo-sessions/one$r-1" >/dev/null 2>&1 || die "destroy failed"
        t1=$(now)
        one_ms+=("$(ms "$t0" "$t1")")
        create_worktrees "$BREPO" "all$r" 1 4
        t0=$(now)
        (cd "$BREPO" && "$BIN" -q -y destroy --all) >/dev/null 2>&1 || die "destroy --all failed"
        t1=$(now)
        all_ms+=("$(ms "$t0" "$t1")")
    done
    ONE=$(median "${one_ms[@]}")
    ALL=$(median "${all_ms[@]}")
    BULK_RATIO=$(awk -v a="$ALL" -v b="$ONE" 'BEGIN { printf "%.2f", a / b }')
    say "destroy: ${one_ms[*]} ms; destroy --all of 4: ${all_ms[*]} ms; ratio ${BULK_RATIO}×"
fi

# --- 7. create against an earlier release, both built and run here ----------------
if want baseline; then
    REF=${BENCH_BASELINE_REF:-231393c}
    BASE_ROUNDS=${BENCH_BASELINE_ROUNDS:-5}
    say "building the baseline release $REF"
    git -C "$ROOT" worktree add -q --detach "$WORK/baseline-src" "$REF" || die "no commit $REF"
    BASE_BIN=$(cd "$WORK/baseline-src" && CARGO_TARGET_DIR=$WORK/baseline-target cargo build --release \
        --message-format=json-render-diagnostics 2>/dev/null |
        jq -r 'select(.reason == "compiler-artifact" and .target.name == "dev-prism" and .executable != null) | .executable' |
        tail -n 1)
    [[ -x $BASE_BIN ]] || die "could not build the baseline $REF"
    base_ms=()
    cur_ms=()
    # One create (worktree, as agents use it) and destroy with binary $2 in
    # a fresh repository; its time goes to the array named $3.
    time_create() {
        local repo=$WORK/base-$1 bin=$2 t0 t1
        git_repo "$repo"
        t0=$(now)
        (cd "$repo" && "$bin" create --branch "b$1") >"$WORK/logs/base-$1.log" 2>&1 ||
            { cat "$WORK/logs/base-$1.log" >&2; die "create ($bin) failed"; }
        t1=$(now)
        local -n into=$3
        into+=("$(ms "$t0" "$t1")")
        (cd "$repo" && "$bin" -q destroy --force "$WORK/base-$1-sessions/b$1") >/dev/null 2>&1
    }
    for ((round = 1; round <= BASE_ROUNDS; round++)); do
        if ((round % 2)); then
            time_create "o$round" "$BASE_BIN" base_ms
            time_create "n$round" "$BIN" cur_ms
        else
            time_create "n$round" "$BIN" cur_ms
            time_create "o$round" "$BASE_BIN" base_ms
        fi
    done
    BASE=$(median "${base_ms[@]}")
    CUR=$(median "${cur_ms[@]}")
    BASE_DIFF=$((CUR - BASE))
    say "create (worktree): this build ${cur_ms[*]} ms; $REF ${base_ms[*]} ms"
fi

# --- 8. soak: concurrent commands and kills, then nothing left ------------------------
if want soak; then
    SOAK_SECS=${BENCH_SOAK_SECS:-60}
    say "soak for $SOAK_SECS s (scripts/soak.sh)"
    (cd "$ROOT" && scripts/soak.sh "$SOAK_SECS") >"$OUT/soak.log" 2>&1 ||
        { tail -40 "$OUT/soak.log" >&2; die "the soak failed (log: $OUT/soak.log)"; }
    SOAK_SUMMARY=$(grep -E '^soak(:| checked:)' "$OUT/soak.log" | tr '\n' ' ')
fi

# --- table --------------------------------------------------------------------------
# "mean / median / CPU" of one command of a discovery run, and the ratios.
triple() { echo "$(fmt "$1") / $(fmt "$2") / $(fmt "$3") ms"; }
ratios() { echo "$(ratio "$1" "$4") / $(ratio "$2" "$5") / $(ratio "$3" "$6")"; }
if want discovery; then
    for n in "${SIZES[@]}"; do
        row "\`list -g\`, $(plural "$n" session) of ours (${ENGINE[$n]} on the engine)" \
            "$(triple "${LIST_MS[$n]}" "${LIST_MED[$n]}" "${LIST_CPU[$n]}")" \
            "$(triple "${PAIR_MS[$n]}" "${PAIR_MED[$n]}" "${PAIR_CPU[$n]}")" \
            "$(ratios "${LIST_MS[$n]}" "${LIST_MED[$n]}" "${LIST_CPU[$n]}" "${PAIR_MS[$n]}" "${PAIR_MED[$n]}" "${PAIR_CPU[$n]}")"
    done
    for n in "${SIZES[@]}"; do
        row "\`info DIR\`, $(plural "$n" session) of ours" \
            "$(triple "${INFO_MS[$n]}" "${INFO_MED[$n]}" "${INFO_CPU[$n]}")" \
            "$(triple "${PAIR_MS[$n]}" "${PAIR_MED[$n]}" "${PAIR_CPU[$n]}")" \
            "$(ratios "${INFO_MS[$n]}" "${INFO_MED[$n]}" "${INFO_CPU[$n]}" "${PAIR_MS[$n]}" "${PAIR_MED[$n]}" "${PAIR_CPU[$n]}")"
    done
    counts() { local -n a=$1; local s=() n; for n in "${SIZES[@]}"; do s+=("${a[$n]}"); done; (IFS=/; echo "${s[*]}"); }
    row "docker processes started by \`list -g\` at $(IFS=/; echo "${SIZES[*]}") sessions" "$(counts LIST_DOCKER)" "2 (ps + inspect)" "-"
    row "docker processes started by \`info DIR\` at $(IFS=/; echo "${SIZES[*]}") sessions" "$(counts INFO_DOCKER)" "2 (ps + inspect)" "-"
    row "processes started by those docker CLIs (plugins)" "$(counts LIST_OTHER) (list), $(counts INFO_OTHER) (info)" "0" "-"
    row "peak RSS of \`list -g\`, $LAST sessions: dev-prism itself" "$((RSS_SELF / 1024)).$((RSS_SELF % 1024 * 10 / 1024)) MiB" \
        "$((RSS_DOCKER / 1024)).$((RSS_DOCKER % 1024 * 10 / 1024)) MiB (\`docker ps\`)" "$(ratio "$RSS_SELF" "$RSS_DOCKER")"
    row "peak RSS of \`list -g\`, $LAST sessions: \`/usr/bin/time -v\` (whole tree)" "$((RSS_TREE / 1024)).$((RSS_TREE % 1024 * 10 / 1024)) MiB" "-" "-"
fi
if want listgit; then
    row "\`list\` with the git state of $GIT_N worktree sessions ($GIT_ENGINE on the engine); $LG_GIT git processes" \
        "$(triple "$LG_MS" "$LG_MED" "$LG_CPU")" \
        "$(triple "$LGP_MS" "$LGP_MED" "$LGP_CPU")" \
        "$(ratios "$LG_MS" "$LG_MED" "$LG_CPU" "$LGP_MS" "$LGP_MED" "$LGP_CPU") (goal ≤ 2×)"
fi
if want create; then
    row "\`create --in-place\` (2 services), median of $ROUNDS" "$CREATE ms" \
        "$RAW ms (config $(median "${config_ms[@]}") + up -d $(median "${up_ms[@]}") + ready $(median "${ready_ms[@]}"))" \
        "$(ratio "$CREATE" "$RAW"); overhead $OVERHEAD ms (median of per-round differences)"
    row "docker processes started by \`create --in-place\`" "$CREATE_DOCKER" "4 (config, up -d, ps, inspect)" "-"
fi
if want baseline; then
    row "\`create\` of a worktree session (2 services), median of $BASE_ROUNDS" "$CUR ms" \
        "$BASE ms (release $REF)" "$(ratio "$CUR" "$BASE"); $BASE_DIFF ms more (goal ≤ 300 ms)"
fi
if want bulk; then
    row "\`destroy --all\` of 4 worktree sessions, median of $BULK_ROUNDS" "$ALL ms" \
        "$ONE ms (\`destroy\` of 1 session)" "${BULK_RATIO}× (goal ≤ 2×)"
fi
if want startup; then
    row "\`dev-prism --version\`, mean of 300" "$(fmt "$VERSION_MS") ms" "$(fmt "$DOCKER_VERSION_MS") ms (\`docker --version\`)" \
        "$(ratio "$VERSION_MS" "$DOCKER_VERSION_MS")"
    row "release binary size" "$((SIZE / 1024)) KiB" "$(($(stat -c %s "$DOCKER") / 1024)) KiB (docker CLI)" \
        "$(ratio "$SIZE" "$(stat -c %s "$DOCKER")")"
fi

{
    echo
    echo "dev-prism $("$BIN" --version | awk '{ print $2 }'), $(docker version --format 'engine {{.Server.Version}}, client {{.Client.Version}}'), compose $(docker compose version --short), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "Discovery rows: mean / median / CPU time (user + system, children included) over $RUNS runs;"
    echo "baseline: \`docker container inspect \$(docker ps -a --filter label=dev-prism.managed=true -q)\` from a shell."
    echo
    echo "| measure | dev-prism | baseline | ratio |"
    echo "|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    if want listgit; then echo; echo "list with git state / docker ps + inspect (median): ${LG_RATIO}×"; fi
    if want bulk; then echo "destroy --all of 4 / destroy of 1 (median): ${BULK_RATIO}×"; fi
    if want baseline; then echo "create / create of $REF (median): $(ratio "$CUR" "$BASE"), $BASE_DIFF ms"; fi
    if want soak; then echo "soak ($SOAK_SECS s): $SOAK_SUMMARY"; fi
} | tee "$OUT/results.md"
say "raw results (hyperfine JSON, logs) kept in $OUT"

# --- 5. .worktreeinclude: create with a large copy vs cp -a vs nothing to copy ---
if [[ ${BENCH_INCLUDE:-1} != 0 ]]; then
    say ".worktreeinclude benchmark (scripts/bench-include.sh)"
    BIN=$BIN BENCH_OUT=$OUT "$ROOT/scripts/bench-include.sh"
fi
