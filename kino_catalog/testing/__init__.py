"""Tools for tests and benchmarks: the deterministic corpus generator, big ComfyUI graphs,
the browser."""
