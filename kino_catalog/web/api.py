"""The JSON API: thin handlers over Catalog, answering the CLI's JSON (exact big integers).

Handlers are plain functions: Starlette runs them in its thread pool, so a
slow database call never blocks the event loop.  Errors have one shape,
``{"error": code, "message": ...}`` (a bad query adds ``term`` and
``position``), and the right status: 400 bad input, 403 refused, 404 unknown
frame, 502 Kino failed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Route

from kino_catalog.errors import KinoError, QueryError, UsageError
from kino_catalog.query.sql import SORTS
from kino_catalog.regen.overrides import Edits
from kino_catalog.web import images
from kino_catalog.web.api_common import ApiError, frame_or_404, query_error, server_of
from kino_catalog.web.openapi import openapi_document

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.requests import Request

    from kino_catalog.catalog.edits import EditResult
    from kino_catalog.query.frame import Frame
    from kino_catalog.web.server import Server

__all__ = ["exception_handlers", "routes"]

MAX_LIMIT = 500
MAX_BODY_BYTES = 1 << 20


def _json(data: Any, *, is_pretty: bool = False) -> Response:
    # json, not orjson: integers past 64 bits (seeds) must stay exact.
    text = json.dumps(data, ensure_ascii=False, indent=2 if is_pretty else None)
    return Response(text, media_type="application/json", headers={"cache-control": "no-store"})


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(400, "bad_request", f"{name} must be an integer from {low} to {high}")
    return int(raw)


def _sort(request: Request) -> str:
    sort = request.query_params.get("sort") or "newest"
    if sort not in SORTS:
        raise ApiError(400, "bad_request", f"sort must be one of {', '.join(SORTS)}")
    return sort


# ---------------------------------------------------------------- reading
def search(request: Request) -> Response:
    catalog = server_of(request).catalog
    q = request.query_params.get("q", "")
    limit = _int_param(request, "limit", 50, 1, MAX_LIMIT)
    cursor = request.query_params.get("cursor") or None
    with_count = request.query_params.get("count", "1" if cursor is None else "0") != "0"
    try:
        page = catalog.search_page(q, sort=_sort(request), limit=limit, cursor=cursor)
        count = catalog.count(q) if with_count else None
        # Only on a first page, like the count: paging on needs no advice again.
        warnings = catalog.field_warnings(q) if cursor is None else []
    except QueryError as exc:
        raise query_error(exc) from exc
    return _json(
        {
            "frames": [frame.to_dict() for frame in page.frames],
            "next_cursor": page.next_cursor,
            "count": count,
            "warnings": warnings,
        }
    )


def count(request: Request) -> Response:
    catalog, q = server_of(request).catalog, request.query_params.get("q", "")
    try:
        # The warnings as /api/search gives them: a field no frame has (advice only).
        return _json({"count": catalog.count(q), "warnings": catalog.field_warnings(q)})
    except QueryError as exc:
        raise query_error(exc) from exc


def frame(request: Request) -> Response:
    return _json(frame_or_404(request).to_dict())


def facets(request: Request) -> Response:
    try:
        found = server_of(request).catalog.facets(request.query_params.get("q", ""))
    except QueryError as exc:
        raise query_error(exc) from exc
    return _json(found.as_dict())


def stats(request: Request) -> Response:
    data = server_of(request).catalog.stats()
    data.pop("database", None)  # a URL of the server's own setup; not the client's business
    return _json(data)


def projects(request: Request) -> Response:
    found = server_of(request).catalog.projects()
    return _json({"projects": [{"id": pid, "frames": n} for pid, n in found]})


def report(request: Request) -> Response:
    raw = request.query_params.get("project")
    if raw not in (None, "") and not raw.lstrip("-").isdigit():
        raise ApiError(400, "bad_request", "project must be an integer")
    try:
        data = server_of(request).catalog.report(int(raw) if raw else None)
    except UsageError as exc:
        raise ApiError(404, "not_found", str(exc)) from exc
    return _json(data)


def session(request: Request) -> Response:
    server = server_of(request)
    return _json(
        {
            "csrf_token": server.config.rules.csrf_token,
            "can_edit": server.can_edit,
            "can_submit": server.can_submit,
        }
    )


def openapi(_request: Request) -> Response:
    return _json(openapi_document())


# ---------------------------------------------------------------- writing
async def _body(request: Request) -> dict[str, Any]:
    data = await request.body()
    if len(data) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", "request body over 1 MiB")
    try:
        body = json.loads(data or b"{}")
    except ValueError:
        raise ApiError(400, "bad_request", "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    return body


def _edits(body: dict[str, Any]) -> Edits:
    """The body's ``set`` / ``set_lora`` / ``drop_lora`` / ``allow_new_keys`` as regen Edits.

    ``set`` values given as strings are read like the CLI's ``--set KEY=VALUE``
    (typed like the value they replace); other JSON values are used as they are.
    """
    sets, loras, drops = body.get("set", {}), body.get("set_lora", {}), body.get("drop_lora", [])
    if not isinstance(sets, dict) or not isinstance(loras, dict) or not isinstance(drops, list):
        raise ApiError(
            400, "bad_request", "set and set_lora must be objects, drop_lora a list of names"
        )
    strengths = {}
    for name, value in loras.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ApiError(400, "bad_request", f"set_lora {name}: the strength must be a number")
        try:
            strengths[str(name)] = float(value)
        except ValueError:
            raise ApiError(
                400, "bad_request", f"set_lora {name}={value}: the strength must be a number"
            ) from None
    return Edits(
        {str(k): v for k, v in sets.items()},
        strengths,
        tuple(str(d) for d in drops),
        bool(body.get("allow_new_keys", False)),
    )


def _require_edits(request: Request) -> Server:
    server = server_of(request)
    if not server.can_edit:
        raise ApiError(
            403, "read_only", "this server is read-only (serve --allow-edits to change sidecars)"
        )
    return server


def _regen_request(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    edits = _edits(body)
    found = frame_or_404(request)
    try:
        return server_of(request).catalog.regen(
            found,
            edits.overrides,
            set_loras=edits.set_loras,
            drop_loras=edits.drop_loras,
            allow_new_keys=edits.allow_new_keys,
        )
    except UsageError as exc:
        raise ApiError(400, "bad_override", str(exc)) from exc


async def regen(request: Request) -> Response:
    body = await _body(request)
    made = await _in_thread(_regen_request, request, body)
    return _json(made, is_pretty=request.query_params.get("pretty") == "1")


async def submit(request: Request) -> Response:
    body = await _body(request)
    server = _require_edits(request)
    if server.config.kino_url is None:
        raise ApiError(403, "no_kino", "no Kino server configured (serve --kino URL)")
    made = await _in_thread(_regen_request, request, body)
    return _json(await _in_thread(_submit_one, made, server.config.kino_url))


def _submit_one(made: dict[str, Any], url: str) -> dict[str, Any]:
    from kino_catalog.regen.submit import submit_requests

    try:
        submission = submit_requests([made], url)  # started, not waited for
    except KinoError as exc:  # the checks failed, or Kino cannot be reached
        raise ApiError(502, "kino_error", str(exc)) from exc
    if not submission.is_ok:
        problem = submission.results[0]
        raise ApiError(502, "kino_error", f"Kino: {problem.status}: {problem.detail()}")
    return {
        "request": made,
        "task_ids": [r.task_id for r in submission.results],
        "tasks": [r.to_dict() for r in submission.results],
        "kino": url,
    }


async def tags(request: Request) -> Response:
    body = await _body(request)
    add, remove = body.get("add", []), body.get("remove", [])
    if not isinstance(add, list) or not isinstance(remove, list) or not (add or remove):
        raise ApiError(400, "bad_request", "give add and/or remove: lists of tags")

    def change(catalog: Any, found: Frame) -> list[Any]:
        done = [catalog.tag([str(t) for t in add], [found])] if add else []
        if remove:
            done.append(catalog.tag([str(t) for t in remove], [found], remove=True))
        return done

    return await _edit(request, change)


async def rating(request: Request) -> Response:
    body = await _body(request)
    value = body.get("rating")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ApiError(400, "bad_request", "rating must be an integer from 0 to 5, or null")
    return await _edit(request, lambda cat, fr: [cat.rate(value, [fr])])


async def notes(request: Request) -> Response:
    body = await _body(request)
    value = body.get("notes")
    if value is not None and not isinstance(value, str):
        raise ApiError(400, "bad_request", "notes must be text, or null")
    return await _edit(request, lambda cat, fr: [cat.note(value, fr)])


async def _edit(request: Request, change: Callable[[Any, Frame], list[EditResult]]) -> Response:
    """Apply annotations through Catalog (the CLI's code path), then answer the frame.

    ``edit`` is the last change's EditResult (``changed``, ``unchanged``,
    ``failed``); a sidecar that could not be changed (Kino kept rewriting it,
    a read-only file) is 409 with its reason.
    """
    server = _require_edits(request)

    def run() -> dict[str, Any]:
        found = frame_or_404(request)
        try:
            results = change(server.catalog, found)
        except UsageError as exc:
            raise ApiError(400, "bad_request", str(exc)) from exc
        for result in results:
            if result.failed:
                reason = result.failed[0]["reason"]
                raise ApiError(409, "edit_failed", reason, edit=result.as_dict())
        return {"frame": server.catalog.get(found.id).to_dict(), "edit": results[-1].as_dict()}

    return _json(await _in_thread(run))


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)


# ---------------------------------------------------------------- wiring
def routes() -> list[Route]:
    return [
        Route("/api/search", search),
        Route("/api/count", count),
        Route("/api/facets", facets),
        Route("/api/stats", stats),
        Route("/api/projects", projects),
        Route("/api/report", report),
        Route("/api/session", session),
        Route("/api/openapi.json", openapi),
        Route("/api/frames/{frame_id:int}", frame),
        Route("/api/frames/{frame_id:int}/image", images.image),
        Route("/api/frames/{frame_id:int}/thumb", images.thumb),
        Route("/api/frames/{frame_id:int}/regen", regen, methods=["POST"]),
        Route("/api/frames/{frame_id:int}/submit", submit, methods=["POST"]),
        Route("/api/frames/{frame_id:int}/tags", tags, methods=["POST"]),
        Route("/api/frames/{frame_id:int}/rating", rating, methods=["POST"]),
        Route("/api/frames/{frame_id:int}/notes", notes, methods=["POST"]),
    ]


def exception_handlers() -> dict[Any, Callable[..., Any]]:
    async def api_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return exc.response()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/"):
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
            return ApiError(exc.status_code, code, str(exc.detail)).response()
        from kino_catalog.web.pages import error_page

        return error_page(request, exc.status_code, str(exc.detail))

    return {ApiError: api_error, HTTPException: http_error}
