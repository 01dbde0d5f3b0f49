"""Benchmark suite (bench/run)."""
