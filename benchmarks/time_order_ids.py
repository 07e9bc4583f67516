"""Copy a SQLite catalogue renumbering frame ids in (generated_at, id) order, for benchmarks.

    python benchmarks/time_order_ids.py SRC.db DST.db

Until rebuilds number frames in generation-time order, this makes the catalogue such a
rebuild would make, so plans that rely on that order (fts-recent) can be measured on an
existing catalogue. It rewrites frames, loras, parameters and tags, then rebuilds the FTS5
index (its segment layout then differs from an incrementally built one).
"""

from __future__ import annotations

import shutil
import sqlite3
import sys

CHILDREN = [("frames", "id"), ("loras", "frame_id"), ("parameters", "frame_id"),
            ("tags", "frame_id")]


def main(argv: list[str]) -> int:
    src, dst = argv
    shutil.copyfile(src, dst)
    db = sqlite3.connect(dst)
    db.execute("PRAGMA foreign_keys=OFF")
    db.execute("CREATE TEMP TABLE moved (old INTEGER PRIMARY KEY, new INTEGER NOT NULL)")
    db.execute("INSERT INTO moved SELECT id, row_number() OVER (ORDER BY generated_at, id) "
               "FROM frames")
    for table, column in CHILDREN:  # via negative ids: no clash with ids not yet moved
        db.execute(f"UPDATE {table} SET {column} = "
                   f"-(SELECT new FROM moved WHERE old = {table}.{column})")
        db.execute(f"UPDATE {table} SET {column} = -{column}")
    db.execute("INSERT INTO frames_fts(frames_fts) VALUES ('rebuild')")
    db.commit()
    db.execute("VACUUM")
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
