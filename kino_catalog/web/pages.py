"""The HTML pages: the gallery, a frame, the reports; rendered on the server, escaped by Jinja2.

Everything a page shows from a sidecar goes through Jinja2's autoescape, and
exact values (seeds past 2**53) are written by the server, never computed by
the browser.  The little JavaScript (static/app.js) only fetches more of the
same and sends edits.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from kino_catalog.errors import QueryError, UsageError
from kino_catalog.query.sql import SORTS
from kino_catalog.report.render import render_report
from kino_catalog.sidecar.limits import MAX_TAG_CHARS
from kino_catalog.web.api_common import server_of
from kino_catalog.web.images import PLACEHOLDER_SVG
from kino_catalog.web.security import CSP
from kino_catalog.web.thumbnails import DEFAULT_SIZE

if TYPE_CHECKING:
    from starlette.requests import Request

    from kino_catalog.query.frame import Frame

__all__ = ["error_page", "favicon", "routes"]

TEMPLATES = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
)
PAGE_SIZE = 50
MAX_SHOWN = 500  # frames a reloaded page renders at once to restore its scroll position


def _exact(value: Any) -> str:
    """A parameter value as the sidecar has it: JSON text, big integers digit for digit."""
    if isinstance(value, str):
        return value
    return json.dumps(
        value, ensure_ascii=False, indent=2 if isinstance(value, dict | list) else None
    )


TEMPLATES.env.filters["exact"] = _exact


def _context(request: Request, **values: Any) -> dict[str, Any]:
    server = server_of(request)
    return {
        "csrf_token": server.config.rules.csrf_token,
        "can_edit": server.can_edit,
        "can_submit": server.can_submit,
        "kino_url": server.config.kino_url,
        "thumb_size": DEFAULT_SIZE,
        **values,
    }


def thumb_url(frame: Frame, size: int = DEFAULT_SIZE) -> str:
    """A thumbnail URL that changes when the frame is regenerated (so it may be cached for good)."""
    version = frame.generated_at.strftime("%Y%m%d%H%M%S%f") + f"-{frame.image_count}"
    return f"/api/frames/{frame.id}/thumb?" + urlencode({"size": size, "v": version})


TEMPLATES.env.globals["thumb_url"] = thumb_url
TEMPLATES.env.globals["max_tag_chars"] = MAX_TAG_CHARS  # the form stops where the API would


def index(request: Request) -> Response:
    """The gallery: query box, grid (first page, or as many as ``shown`` asks), facets."""
    catalog = server_of(request).catalog
    params = request.query_params
    q = params.get("q", "")
    sort = params.get("sort") or "newest"
    if sort not in SORTS:
        sort = "newest"
    shown = params.get("shown", "")
    limit = min(max(int(shown), PAGE_SIZE), MAX_SHOWN) if shown.isdigit() else PAGE_SIZE
    error: QueryError | None = None
    frames: list[Frame] = []
    next_cursor = None
    warnings: list[str] = []
    try:
        page = catalog.search_page(q, sort=sort, limit=limit)
        frames, next_cursor = page.frames, page.next_cursor
        warnings = catalog.field_warnings(q)  # "no frame has 'lroa'; did you mean lora:?"
    except QueryError as exc:
        error = exc
    context = _context(
        request,
        q=q,
        sort=sort,
        sorts=SORTS,
        frames=frames,
        next_cursor=next_cursor,
        warnings=warnings,
        error=error,
        error_marker=_marker(q, error),
    )
    return TEMPLATES.TemplateResponse(
        request, "index.html", context, status_code=400 if error else 200
    )


def _marker(q: str, error: QueryError | None) -> dict[str, str] | None:
    """The query split around the bad term, so the page can underline it."""
    if error is None or error.position is None or error.position > len(q):
        return None
    start = error.position
    end = start + max(len(error.term or ""), 1)
    return {"before": q[:start], "term": q[start:end], "after": q[end:]}


def frame_page(request: Request) -> Response:
    """One frame in full; ``?partial=1`` gives just the view, for the gallery's overlay."""
    server = server_of(request)
    frame_id = request.path_params["frame_id"]
    try:
        found = server.catalog.get(int(frame_id))
    except UsageError:
        return error_page(request, 404, f"No frame {frame_id} in the catalogue.")
    request_json = json.dumps(server.catalog.regen(found), ensure_ascii=False, indent=2)
    context = _context(
        request,
        frame=found,
        data=found.to_dict(),
        request_json=request_json,
        q=request.query_params.get("q", ""),
    )
    name = "frame_view.html" if request.query_params.get("partial") == "1" else "frame.html"
    return TEMPLATES.TemplateResponse(request, name, context)


def reports(request: Request) -> Response:
    """Links to the report of every project and of the whole catalogue."""
    found = server_of(request).catalog.projects()
    return TEMPLATES.TemplateResponse(request, "reports.html", _context(request, projects=found))


def report_page(request: Request) -> Response:
    """The HTML report (the CLI's ``report --format html``) of a project or of everything."""
    raw = request.path_params.get("project_id")
    try:
        data = server_of(request).catalog.report(int(raw) if raw is not None else None)
    except UsageError as exc:
        return error_page(request, 404, str(exc))
    html = render_report(data, "html")
    return HTMLResponse(html, headers={"content-security-policy": _report_csp(html)})


def _report_csp(html: str) -> str:
    """The strict policy, letting in exactly the report's own inline style sheets."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode() + "'"
        for css in re.findall(r"<style>(.*?)</style>", html, flags=re.S)
    )
    return CSP.replace("style-src 'self'", f"style-src 'self' {hashes}")


def error_page(request: Request, status: int, message: str) -> Response:
    return TEMPLATES.TemplateResponse(
        request, "error.html", _context(request, status=status, message=message), status_code=status
    )


def favicon(_request: Request) -> Response:
    return Response(PLACEHOLDER_SVG, media_type="image/svg+xml")


def routes() -> list[Route]:
    return [
        Route("/", index),
        Route("/frames/{frame_id:int}", frame_page),
        Route("/reports", reports),
        Route("/report", report_page),
        Route("/projects/{project_id:int}/report", report_page),
    ]
