"""Benchmarks: `enrich run` against bare HTTP loops and peer libraries (see bench/README.md)."""
