"""The ASGI application: routes, the guard around them, and the watcher's lifetime."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from kino_catalog.web import api, pages
from kino_catalog.web.security import Guard
from kino_catalog.web.server import ServeConfig, Server
from kino_catalog.web.thumbnails import ThumbnailCache

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from kino_catalog.catalog import Catalog

__all__ = ["STATIC_FOLDER", "create_app"]

STATIC_FOLDER = Path(__file__).resolve().parent / "static"
log = logging.getLogger(__name__)


def create_app(catalog: Catalog, config: ServeConfig | None = None) -> Starlette:
    """The gallery and JSON API over ``catalog`` (which the caller opens and closes)."""
    config = config or ServeConfig()
    server = Server(catalog, config, ThumbnailCache(config.thumbnail_folder))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        watcher = None
        if config.is_watching:
            roots = catalog.roots()
            if roots:
                watcher = catalog.watch(*roots, use_polling=config.use_polling).start()
                log.info("watching %s", ", ".join(roots))
            else:
                log.warning("--watch: the catalogue has no library folder yet (sync one first)")
        try:
            yield
        finally:
            if watcher is not None:
                watcher.stop()

    routes = [
        *api.routes(),
        *pages.routes(),
        Mount("/static", app=StaticFiles(directory=STATIC_FOLDER), name="static"),
        Route("/favicon.ico", pages.favicon),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, rules=config.rules)],
        exception_handlers=api.exception_handlers(),
        lifespan=lifespan,
    )
    app.state.server = server
    return app
