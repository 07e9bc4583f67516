"""What every handler shares: the error answer, the server state, the frame of a URL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse

from kino_catalog.errors import QueryError, UsageError

if TYPE_CHECKING:
    from starlette.requests import Request

    from kino_catalog.query.frame import Frame
    from kino_catalog.web.server import Server

__all__ = ["ApiError", "frame_or_404", "query_error", "server_of"]


class ApiError(Exception):
    """An answer other than 200: status, error code, message (and extra keys)."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def response(self) -> JSONResponse:
        body = {"error": self.code, "message": self.message, **self.extra}
        return JSONResponse(body, self.status, headers={"cache-control": "no-store"})


def query_error(exc: QueryError) -> ApiError:
    """A bad query as the API reports it: 400 with the term and where it starts."""
    code = "bad_cursor" if exc.term == "cursor" else "bad_query"
    return ApiError(400, code, str(exc), term=exc.term, position=exc.position)


def server_of(request: Request) -> Server:
    server: Server = request.app.state.server
    return server


def frame_or_404(request: Request) -> Frame:
    """The frame named by the path's ``{frame_id}`` (an integer; never a path)."""
    frame_id = request.path_params["frame_id"]
    try:
        return server_of(request).catalog.get(int(frame_id))
    except UsageError:
        raise ApiError(404, "not_found", f"no frame {frame_id} in the catalogue") from None
