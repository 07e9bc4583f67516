"""The exception tree: every error a user can cause is a KinoError."""

from __future__ import annotations


class KinoError(Exception):
    """Base of every error kino-catalog raises on purpose."""


class SidecarError(KinoError):
    """A sidecar that cannot be used; carries the path and a one-line reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class SidecarParseError(SidecarError):
    """The file is not readable JSON (bad bytes, bad syntax, too deep, ...)."""


class SidecarSchemaError(SidecarError):
    """The JSON parses but a known key has the wrong shape or type."""


class NotASidecarError(SidecarError):
    """Valid JSON without Kino's shape: ignored by indexing, not an error."""


class QueryError(KinoError):
    """A malformed query; names the offending term and where it starts."""

    def __init__(
        self, query: str, explanation: str, term: str | None = None, position: int | None = None
    ) -> None:
        super().__init__(query, explanation, term, position)
        self.query = query
        self.explanation = explanation
        self.term = term
        self.position = position

    def __str__(self) -> str:
        where = ""
        if self.term is not None:
            where = f" in term {self.term!r}"
            if self.position is not None:
                where += f" at position {self.position + 1}"
        return f"bad query {self.query!r}{where}: {self.explanation}"


class CatalogError(KinoError):
    """The catalogue cannot be used: missing, locked, newer than this code, ..."""


class UsageError(KinoError):
    """A user mistake outside queries (bad frame reference, bad override, ...)."""
