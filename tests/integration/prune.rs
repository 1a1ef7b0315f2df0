//! Integration tests: prune.
