"""Live watching: watchdog observers, per-path debouncing, the watcher loop."""
