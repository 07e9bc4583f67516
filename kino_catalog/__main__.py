"""``python -m kino_catalog``: the same as the ``kino-catalog`` command."""

import sys

from kino_catalog.cli import main

sys.exit(main())
