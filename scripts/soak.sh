#!/usr/bin/env bash
# Soak dev-prism (issue 9): concurrent create / destroy / prune -y / stop /
# start on one repository, some interrupted with Ctrl-C (SIGINT to their
# process group) or killed (SIGKILL), then one `prune -y` and one
# `destroy --all -y --force` that must leave no worktree, branch, container,
# network, volume or lock file behind, and lose no commit.
#
# It runs the integration test
# hardening_soak::soak_concurrent_commands_and_kills_leave_nothing_behind
# for longer than its default 35 s and prints what it did and checked.
#
# Usage: scripts/soak.sh [SECONDS]     (default: $DEV_PRISM_SOAK_SECS, else 60)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-env.sh
secs="${1:-${DEV_PRISM_SOAK_SECS:-60}}"
export DEV_PRISM_SOAK_SECS="$secs"
exec cargo test --test integration \
  hardening_soak::soak_concurrent_commands_and_kills_leave_nothing_behind \
  -- --exact --nocapture
