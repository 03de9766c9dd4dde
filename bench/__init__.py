"""Benchmarks: each script prints its figures and, where a peer exists, the ratio measured
side by side in the same run (see docs/benchmarks.md)."""
