//! Integration tests: shapes.
