"""Which machine this process is: the name a root's per-host mapping is filed under.

A studio shares one catalogue between workstations that mount the same
library at different places; each maps a root to its own local path under
its host name.  The name is ``socket.gethostname()`` unless
``KINO_CATALOG_HOST`` says otherwise: for tests that play several machines,
and for laptops whose DHCP-given hostname changes from network to network
(set it once in the shell profile).
"""

from __future__ import annotations

import os
import socket

__all__ = ["HOST_ENV", "this_host"]

HOST_ENV = "KINO_CATALOG_HOST"


def this_host() -> str:
    """This machine's name for root mappings: $KINO_CATALOG_HOST, else the hostname."""
    name = os.environ.get(HOST_ENV, "").strip()
    return name or socket.gethostname() or "localhost"
