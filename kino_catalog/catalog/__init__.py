"""The service layer: the Catalog facade that users, the CLI and servers call, and its services."""

from kino_catalog.catalog.facade import Catalog

__all__ = ["Catalog"]
