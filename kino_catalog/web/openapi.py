"""The OpenAPI 3.1 description of the JSON API, served at ``/api/openapi.json``.

Written out rather than generated: the API is small, and a test checks that
every ``/api`` route of the app is described here and nothing else is.
"""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ok(description: str, schema: dict[str, Any], media: str = "application/json") -> Any:
    return {"200": {"description": description, "content": {media: {"schema": schema}}}}


_ID = {
    "name": "frame_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
    "description": "The frame's catalogue id (never a path).",
}
_Q = {
    "name": "q",
    "in": "query",
    "schema": {"type": "string", "default": ""},
    "description": "A query in the query language (README: Query language); empty = every frame.",
}
_CSRF = {
    "name": "X-CSRF-Token",
    "in": "header",
    "required": True,
    "schema": {"type": "string"},
    "description": "The token from GET /api/session (every POST needs it).",
}
_FRAME = {"$ref": "#/components/schemas/Frame"}
_ANY = {"type": "object", "additionalProperties": True}
_EDITS = {
    "type": "object",
    "properties": {
        "set": {
            "type": "object",
            "additionalProperties": True,
            "description": "KEY -> value; text is read like `regen --set KEY=VALUE`.",
        },
        "set_lora": {"type": "object", "additionalProperties": {"type": "number"}},
        "drop_lora": {"type": "array", "items": {"type": "string"}},
        "allow_new_keys": {"type": "boolean", "default": False},
    },
}


def _post(summary: str, body: dict[str, Any], answer: Any, *errors: tuple[str, str]) -> Any:
    return {
        "post": {
            "summary": summary,
            "parameters": [_ID, _CSRF],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {
                **answer,
                "403": _error("read-only server, or missing CSRF token / cross-origin request"),
                "404": _error("no such frame"),
                **{code: _error(text) for code, text in errors},
            },
        }
    }


def _edit(summary: str, body: dict[str, Any]) -> Any:
    answer = _ok(
        "the frame after the edit, and what the edit did",
        {"type": "object", "properties": {"frame": _FRAME, "edit": _ANY}},
    )
    return _post(
        summary, body, answer, ("400", "bad value"), ("409", "the sidecar could not be changed")
    )


def openapi_document() -> dict[str, Any]:
    """The API description (a new dict each call)."""
    frame_get: dict[str, Any] = {"get": {"summary": "One frame", "parameters": [_ID]}}
    frame_get["get"]["responses"] = {
        **_ok("the frame JSON of `show --format json`", _FRAME),
        "404": _error("no such frame"),
    }
    paths: dict[str, Any] = {
        "/api/search": {
            "get": {
                "summary": "A page of a search (keyset pagination: follow next_cursor)",
                "parameters": [
                    _Q,
                    {
                        "name": "sort",
                        "in": "query",
                        "schema": {
                            "enum": [
                                "newest",
                                "oldest",
                                "seed",
                                "steps",
                                "cfg",
                                "model",
                                "relevance",
                            ]
                        },
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "next_cursor of the previous page",
                    },
                    {
                        "name": "count",
                        "in": "query",
                        "schema": {"enum": ["0", "1"]},
                        "description": "include count (default: on the first page only)",
                    },
                ],
                "responses": {
                    **_ok(
                        "frames in order, the next page's cursor (null at the end), the count, "
                        'and warnings (first page: fields no frame has, e.g. "no frame has '
                        "'lroa'; did you mean lora:?\")",
                        {
                            "type": "object",
                            "properties": {
                                "frames": {"type": "array", "items": _FRAME},
                                "next_cursor": {"type": ["string", "null"]},
                                "count": {"type": ["integer", "null"]},
                                "warnings": {"type": "array", "items": {"type": "string"}},
                            },
                        },
                    ),
                    "400": _error(
                        "bad query (error bad_query, with term and position), sort, limit or cursor"
                    ),
                },
            }
        },
        "/api/count": {
            "get": {
                "summary": "How many frames match",
                "parameters": [_Q],
                "responses": {
                    **_ok(
                        "the count, and a warning per field no frame has (as /api/search)",
                        {
                            "type": "object",
                            "properties": {
                                "count": {"type": "integer"},
                                "warnings": {"type": "array", "items": {"type": "string"}},
                            },
                        },
                    ),
                    "400": _error("bad query"),
                },
            }
        },
        "/api/facets": {
            "get": {
                "summary": "Top LoRAs, models, projects and samplers of a query's frames",
                "description": "Counted over the newest sample_limit matches; "
                "sampled says whether there were more.",
                "parameters": [_Q],
                "responses": {
                    **_ok("facet values with counts and the query term selecting each", _ANY),
                    "400": _error("bad query"),
                },
            }
        },
        "/api/stats": {
            "get": {
                "summary": "Catalogue health (as `stats --format json`, without the database URL)",
                "responses": _ok("counts", _ANY),
            }
        },
        "/api/projects": {
            "get": {
                "summary": "Projects with their frame counts",
                "responses": _ok("projects", _ANY),
            }
        },
        "/api/report": {
            "get": {
                "summary": "The report data (as `report --format json`)",
                "parameters": [{"name": "project", "in": "query", "schema": {"type": "integer"}}],
                "responses": {
                    **_ok("the report", _ANY),
                    "400": _error("project is not an integer"),
                    "404": _error("no such project"),
                },
            }
        },
        "/api/session": {
            "get": {
                "summary": "The CSRF token for POSTs, and what this server allows",
                "responses": _ok(
                    "session",
                    {
                        "type": "object",
                        "properties": {
                            "csrf_token": {"type": "string"},
                            "can_edit": {"type": "boolean"},
                            "can_submit": {"type": "boolean"},
                        },
                    },
                ),
            }
        },
        "/api/openapi.json": {
            "get": {"summary": "This description", "responses": _ok("OpenAPI 3.1", _ANY)}
        },
        "/api/frames/{frame_id}": frame_get,
        "/api/frames/{frame_id}/image": {
            "get": {
                "summary": "The frame's image; n picks a member of a PNG sequence",
                "parameters": [
                    _ID,
                    {
                        "name": "n",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0, "default": 0},
                    },
                ],
                "responses": {
                    "200": {"description": "the image file"},
                    "404": _error("no such frame or image"),
                },
            }
        },
        "/api/frames/{frame_id}/thumb": {
            "get": {
                "summary": "A WebP thumbnail (cached on disk; ETag); "
                "an SVG placeholder for a missing or broken image",
                "parameters": [
                    _ID,
                    {
                        "name": "size",
                        "in": "query",
                        "schema": {"enum": [128, 256, 512], "default": 256},
                    },
                    {
                        "name": "v",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "any version tag: the answer may then be cached for good",
                    },
                ],
                "responses": {
                    "200": {"description": "image/webp, or image/svg+xml placeholder"},
                    "304": {"description": "not modified"},
                    "404": _error("no such frame"),
                },
            }
        },
        "/api/frames/{frame_id}/regen": _post(
            "The Kino request that regenerates the frame, with edits (as `regen`)",
            _EDITS,
            _ok("the request", _ANY),
            ("400", "an edit that does not fit (error bad_override)"),
        ),
        "/api/frames/{frame_id}/submit": _post(
            "Send the regen request to the Kino server given to serve --kino",
            _EDITS,
            _ok("the request, the started task ids and each task's status", _ANY),
            ("400", "an edit that does not fit"),
            ("502", "Kino refused or could not be reached"),
        ),
        "/api/frames/{frame_id}/tags": _edit(
            "Add and/or remove tags (written into the sidecar)",
            {
                "type": "object",
                "properties": {
                    "add": {"type": "array", "items": {"type": "string"}},
                    "remove": {"type": "array", "items": {"type": "string"}},
                },
            },
        ),
        "/api/frames/{frame_id}/rating": _edit(
            "Set the rating 0-5, or null to remove it (written into the sidecar)",
            {
                "type": "object",
                "properties": {"rating": {"type": ["integer", "null"], "minimum": 0, "maximum": 5}},
            },
        ),
        "/api/frames/{frame_id}/notes": _edit(
            "Set the notes; empty or null removes them (written into the sidecar)",
            {"type": "object", "properties": {"notes": {"type": ["string", "null"]}}},
        ),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kino-catalog",
            "version": "1",
            "description": "Search and browse a catalogue of Kino sidecars. Integers are exact "
            "(seeds up to 2**64-1 and beyond): parse them with a big-integer aware JSON reader.",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": {"type": "string"},
                        "message": {"type": "string"},
                        "term": {"type": ["string", "null"]},
                        "position": {"type": ["integer", "null"]},
                    },
                },
                "Frame": {
                    "type": "object",
                    "description": "The frame JSON of `search --format json` (README).",
                    "properties": {
                        "id": {"type": "integer"},
                        "sidecar": {"type": "string"},
                        "image": {"type": "string"},
                        "image_exists": {"type": "boolean"},
                        "image_count": {"type": "integer"},
                        "project_id": {"type": ["integer", "null"]},
                        "plugin": {"type": "string"},
                        "generated_at": {"type": "string"},
                        "seed": {"description": "exact integer, any size"},
                        "loras": {"type": "array", "items": _ANY},
                        "parameters": _ANY,
                    },
                    "additionalProperties": True,
                },
            }
        },
    }
