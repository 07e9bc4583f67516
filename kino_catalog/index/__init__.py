"""Mirroring library folders into the catalogue: walk, diff, listings, rows, bulk load, sync."""
