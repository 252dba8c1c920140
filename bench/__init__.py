"""Benchmarks (see bench/README.md). Not part of the application package."""
