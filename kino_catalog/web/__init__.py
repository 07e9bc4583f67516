"""The web gallery and JSON API (``kino-catalog serve``): an ASGI app over Catalog."""

from __future__ import annotations

from kino_catalog.web.app import create_app
from kino_catalog.web.security import AccessRules
from kino_catalog.web.server import ServeConfig

__all__ = ["AccessRules", "ServeConfig", "create_app"]
