"""What the request handlers share: the serve options and the Server behind every request.

Apart from ``app.py`` so the handler modules (``api``, ``pages``) can name
these types without importing the app that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kino_catalog.web.security import AccessRules

if TYPE_CHECKING:
    from pathlib import Path

    from kino_catalog.catalog import Catalog
    from kino_catalog.web.thumbnails import ThumbnailCache

__all__ = ["ServeConfig", "Server"]


@dataclass(frozen=True)
class ServeConfig:
    """What ``kino-catalog serve`` decided from its options."""

    rules: AccessRules = field(default_factory=AccessRules)
    kino_url: str | None = None
    thumbnail_folder: Path | None = None
    is_watching: bool = False
    use_polling: bool = False


@dataclass
class Server:
    """What every request handler reaches through ``request.app.state.server``."""

    catalog: Catalog
    config: ServeConfig
    thumbnails: ThumbnailCache

    @property
    def can_edit(self) -> bool:
        return self.config.rules.allow_edits

    @property
    def can_submit(self) -> bool:
        return self.can_edit and self.config.kino_url is not None
