"""Tools for tests and benchmarks: the deterministic corpus generator."""
