"""The web gallery and JSON API (``kino-catalog serve``): an ASGI app over Catalog."""

from __future__ import annotations

from kino_catalog.web.app import ServeConfig, create_app
from kino_catalog.web.security import AccessRules

__all__ = ["AccessRules", "ServeConfig", "create_app"]
