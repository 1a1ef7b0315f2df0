//! Integration tests: the built binary against real git and a real Docker
//! engine with Compose v2. Run `scripts/test-env.sh` first (scripts/test.sh
//! does).

#![allow(clippy::unwrap_used)]

mod harness;

mod agents;
mod claude;
mod core;
mod errors;
mod hardening;
mod hardening_safety;
mod hardening_signals;
mod hardening_soak;
mod hooks;
mod include;
mod lifecycle;
mod names;
mod perf;
mod picture;
mod prune;
mod quickstart;
mod records;
mod reliability;
mod safety;
mod shapes;
mod signals;
mod sticky;
mod terminal;
mod ui;
