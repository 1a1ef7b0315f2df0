#!/usr/bin/env bash
# Run the whole test suite: make sure the Docker engines, Compose v2 and the
# test image are there (scripts/test-env.sh), then the unit tests once and the
# integration tests against each engine generation:
#   old  the default engine (DOCKER_HOST or the machine's socket; in CI Debian
#        bookworm's Engine 20.10 with Compose 2.26),
#   new  Engine 28 with Compose 2.40 beside it (scripts/engine2.sh), the tests
#        run in its network namespace with its DOCKER_HOST and DOCKER_CONFIG.
#
#   DEV_PRISM_ENGINES=old|new|both   which engines (default both)
#   DEV_PRISM_ENGINES_SERIAL=1       one engine after the other (default: both
#                                    at once, each line prefixed [old]/[new])
# Arguments go to every `cargo test` (e.g. a test name filter).
# Exit status: non-zero when any engine's run failed; the summary at the end
# names the engine and the failed tests; full logs in target/test-logs/.
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINES="${DEV_PRISM_ENGINES:-both}"
case "$ENGINES" in
    both) list=(old new) ;;
    old | new) list=("$ENGINES") ;;
    *) echo "test.sh: error: DEV_PRISM_ENGINES must be old, new or both (got $ENGINES)" >&2; exit 1 ;;
esac
SERIAL="${DEV_PRISM_ENGINES_SERIAL:-0}"
[ ${#list[@]} -gt 1 ] || SERIAL=1

DEV_PRISM_ENGINES="$ENGINES" scripts/test-env.sh
echo "test.sh: test environment ready after $SECONDS s"
# Build once, outside the namespace of the new engine (which has no network).
cargo test --locked --no-run "$@"
echo "test.sh: built after $SECONDS s"

LOGS=target/test-logs
mkdir -p "$LOGS"

describe() {
    local docker=(docker) vars
    if [ "$1" = new ]; then
        mapfile -t vars < <(scripts/engine2.sh vars)
        docker=(env "${vars[@]}" docker)
    fi
    printf 'Engine %s, Compose %s' \
        "$("${docker[@]}" version --format '{{.Server.Version}}' 2>/dev/null || echo '?')" \
        "$("${docker[@]}" compose version --short 2>/dev/null || echo '?')"
}

# run_suite ENGINE FIRST ARGS…: the tests against ENGINE. The first engine runs
# every test target (the unit tests too); the others only the integration tests.
run_suite() {
    local engine="$1" first="$2"
    shift 2
    local targets=()
    [ "$first" = 1 ] || targets=(--test integration)
    local cmd=(cargo test --locked "${targets[@]}" "$@")
    [ "$engine" = old ] || cmd=(scripts/engine2.sh exec "${cmd[@]}")
    local start=$SECONDS status=0
    echo "test.sh: === $engine engine ($(describe "$engine")): ${cmd[*]}"
    "${cmd[@]}" || status=$?
    echo "test.sh: === $engine engine: exit status $status after $((SECONDS - start)) s"
    echo "$status $((SECONDS - start))" >"$LOGS/$engine.status"
    return "$status"
}

for engine in "${list[@]}"; do
    rm -f "$LOGS/$engine.status" "$LOGS/$engine.log"
done
first=1
pids=()
for engine in "${list[@]}"; do
    if [ "$SERIAL" = 1 ]; then
        run_suite "$engine" "$first" "$@" 2>&1 | tee "$LOGS/$engine.log" || true
    else
        # Both at once: each line prefixed with its engine, and a log of each.
        { run_suite "$engine" "$first" "$@" 2>&1 | tee "$LOGS/$engine.log" \
            | sed -u "s/^/[$engine] /" || true; } &
        pids+=($!)
    fi
    first=0
done
for pid in "${pids[@]}"; do
    wait "$pid" || true
done

# Summary: per engine, then one closing line for all.
failed=0
total_passed=0
total_failed=0
echo
for engine in "${list[@]}"; do
    read -r status took <"$LOGS/$engine.status" 2>/dev/null || { status=1; took='?'; }
    passed=$(awk '/^test result:/ {for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^passed/) s += $i} END {print s + 0}' "$LOGS/$engine.log")
    nfailed=$(awk '/^test result:/ {for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^failed/) s += $i} END {print s + 0}' "$LOGS/$engine.log")
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + nfailed))
    if [ "$status" = 0 ]; then
        verdict=ok
    else
        verdict=FAILED
        failed=1
    fi
    echo "test.sh: $engine engine ($(describe "$engine")): $verdict, $passed passed, $nfailed failed, ${took} s (log: $LOGS/$engine.log)"
    grep -E '^test .* \.\.\. FAILED$' "$LOGS/$engine.log" | sed -E "s/^test (.*) \.\.\. FAILED$/test.sh:   failed on the $engine engine: \1/" || true
    if [ "$status" != 0 ] && [ "$nfailed" = 0 ]; then
        echo "test.sh:   the $engine engine's run failed before or outside the tests: see $LOGS/$engine.log"
    fi
done
echo "tests: $total_passed passed, $total_failed failed"
exit "$failed"
