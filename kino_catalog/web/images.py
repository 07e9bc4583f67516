"""Images and thumbnails, served only for indexed frames, looked up by frame id.

No request names a file: the path comes from the catalogue row, and
``Frame.image_file`` refuses anything that is not a regular file inside the
frame's library root (a symlink pointing out of it, a missing file).
"""

from __future__ import annotations

import mimetypes
from typing import TYPE_CHECKING

from starlette.responses import FileResponse, Response

from kino_catalog.web.api_common import ApiError, frame_or_404, server_of
from kino_catalog.web.thumbnails import DEFAULT_SIZE, SIZES

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["PLACEHOLDER_SVG", "image", "thumb"]

_IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif"}
#: Shown for a missing or unreadable image; never cached, so a fixed image shows up.
PLACEHOLDER_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">'
    '<rect width="256" height="256" fill="#2a2a30"/>'
    '<path d="M88 168l32-40 24 28 16-20 32 32z" fill="#55555f"/>'
    '<circle cx="104" cy="100" r="12" fill="#55555f"/></svg>'
)
_LONG = "private, max-age=31536000, immutable"
_SHORT = "private, max-age=300"


def _placeholder(reason: str) -> Response:
    return Response(
        PLACEHOLDER_SVG,
        media_type="image/svg+xml",
        headers={"cache-control": "no-store", "x-thumbnail": reason},
    )


def image(request: Request) -> Response:
    """The frame's image (``?n=`` picks a member of a PNG sequence)."""
    found = frame_or_404(request)
    raw = request.query_params.get("n", "0")
    if not raw.isdigit():
        raise ApiError(400, "bad_request", "n must be a non-negative integer")
    path = server_of(request).catalog.image_file(found, int(raw))
    if path is None:
        raise ApiError(404, "no_image", f"frame {found.id} has no image {raw} in its folder")
    media_type = mimetypes.guess_type(path)[0] or ""
    if media_type not in _IMAGE_TYPES:
        raise ApiError(404, "no_image", f"frame {found.id}'s image is not a picture type")
    return FileResponse(
        path, media_type=media_type, headers={"cache-control": "private, max-age=60"}
    )


def thumb(request: Request) -> Response:
    """A WebP thumbnail (made once, then from the disk cache), or a placeholder."""
    size = DEFAULT_SIZE
    raw = request.query_params.get("size")
    if raw is not None:
        if not raw.isdigit() or int(raw) not in SIZES:
            raise ApiError(400, "bad_request", f"size must be one of {', '.join(map(str, SIZES))}")
        size = int(raw)
    found = frame_or_404(request)
    path = server_of(request).catalog.image_file(found)
    if path is None:
        return _placeholder("missing")
    made = server_of(request).thumbnails.get(path, size)
    if made is None:
        return _placeholder("missing")
    if made.path is None:
        return _placeholder("broken")
    etag = f'"{made.etag}"'
    # A versioned URL (the page adds v=<generation time>) names one image for good.
    cache = _LONG if "v" in request.query_params else _SHORT
    headers = {"etag": etag, "cache-control": cache}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    # A few KB: read here (this handler already runs in a worker thread) rather
    # than through FileResponse's async file chunks, which cost more hops than bytes.
    return Response(made.path.read_bytes(), media_type="image/webp", headers=headers)
