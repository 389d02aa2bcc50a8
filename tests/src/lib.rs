//! End-to-end and system tests for Dyntray live in `tests/`; this library is empty.
