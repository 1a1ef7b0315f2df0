//! Integration tests: claude.
