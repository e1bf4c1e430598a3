"""Benchmarks that print figures (`make bench`); targets are in docs/benchmarks.md."""
