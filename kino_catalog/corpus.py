"""Old name of kino_catalog.testing.corpus, so ``python -m kino_catalog.corpus`` still works.

New code imports ``kino_catalog.testing.corpus``; this alias re-exports its public names.
"""

from __future__ import annotations

import sys

from kino_catalog.testing.corpus import (
    INVALID_KINDS,
    CorpusSummary,
    generate_corpus,
    invalid_indices,
    main,
    make_invalid,
    make_record,
)

__all__ = [
    "INVALID_KINDS",
    "CorpusSummary",
    "generate_corpus",
    "invalid_indices",
    "main",
    "make_invalid",
    "make_record",
]

if __name__ == "__main__":
    sys.exit(main())
