"""Mirroring library folders into the catalogue: walk, diff, split, rows, bulk load, sync."""
