"""Headless Chromium for the browser tests and the serve benchmark: Debian's, not Playwright's.

Playwright's own browser download cannot be reached from CI, so both drive
the distribution's Chromium (``apt-get install chromium``) with flags that
keep it from reaching for the network on its own.
"""

from __future__ import annotations

__all__ = ["CHROMIUM", "CHROMIUM_ARGS"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
