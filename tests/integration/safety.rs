//! Integration tests: safety.
