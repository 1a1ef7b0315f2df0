//! Integration tests: the built binary against real git and a real Docker
//! engine with Compose v2. Run `scripts/test-env.sh` first (scripts/test.sh
//! does).

#![allow(clippy::unwrap_used)]

mod harness;

mod core;
mod errors;
mod quickstart;
