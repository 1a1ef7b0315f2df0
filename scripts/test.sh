#!/usr/bin/env bash
# Run the whole test suite: make sure a Docker engine, Compose v2 and the test
# image are there (scripts/test-env.sh), then unit + integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-env.sh
cargo test --locked "$@"
