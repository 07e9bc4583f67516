"""The exception tree: every error a user can cause is a KinoError."""

from __future__ import annotations

__all__ = [
    "CatalogError",
    "CatalogMissingError",
    "KinoError",
    "NotASidecarError",
    "QueryError",
    "RootBusyError",
    "RootLockLostError",
    "RootNotMappedError",
    "SidecarError",
    "SidecarLimitError",
    "SidecarParseError",
    "SidecarSchemaError",
    "UsageError",
]


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
    """The JSON parses but has not Kino's shape (or, for an edit, a damaged added key)."""


class SidecarLimitError(SidecarError, ValueError):
    """A write refused because its result would break a limit (the file is left as it was).

    Also a ValueError: Kino's own writer raises that for a value JSON cannot
    carry, and plugins calling ``save_generation_params`` may catch it.
    """


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


class CatalogMissingError(CatalogError):
    """A command that only reads was pointed at no catalogue (a mistyped --db, or no sync yet).

    ``what`` says what is missing there ("no catalogue", "no catalogue schema").
    """

    def __init__(self, target: str, what: str = "no catalogue") -> None:
        super().__init__(target, what)
        self.target = target
        self.what = what

    def __str__(self) -> str:
        return f"{self.what} at {self.target}: run `kino-catalog sync FOLDER` first to create one"


class UsageError(KinoError):
    """A user mistake outside queries (bad frame reference, bad override, ...)."""


class KinoServerError(KinoError):
    """Kino answered a request with an error (``status`` is its HTTP status)."""

    def __init__(self, url: str, reason: str, status: int | None = None) -> None:
        super().__init__(url, reason, status)
        self.url = url
        self.reason = reason
        self.status = status

    def __str__(self) -> str:
        return f"Kino at {self.url}: {self.reason}"


class KinoUnreachableError(KinoServerError):
    """No answer at all: refused, reset, or nothing within the time allowed.

    ``is_timeout`` tells a server that is there but slow (Kino runs its
    plugins in-process, so it can be busy for a while) from one that is gone.
    """

    def __init__(
        self, url: str, reason: str, *, is_timeout: bool = False, is_refused: bool = False
    ) -> None:
        super().__init__(url, reason)
        self.is_timeout = is_timeout
        self.is_refused = is_refused  # the request never reached a server


class SubmitError(KinoError):
    """Nothing was submitted: the batch failed its checks (one line per problem)."""

    def __init__(self, url: str, problems: list[str]) -> None:
        super().__init__(url, problems)
        self.url = url
        self.problems = problems

    def __str__(self) -> str:
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"nothing was submitted to {self.url}: {self.problems[0]}{more}"


class RootBusyError(CatalogError):
    """Another process (here or on another machine) is writing this root."""

    def __init__(self, root: str, holder: str) -> None:
        super().__init__(root, holder)
        self.root = root
        self.holder = holder

    def __str__(self) -> str:
        return f"root {self.root!r} is being written by {self.holder}"


class RootLockLostError(CatalogError):
    """A writer found its root lock gone (its database session ended, its lock file replaced).

    Another writer may have taken the root meanwhile, so the write stops
    before committing anything more; what it committed before is consistent
    (each commit was checked), and running the command again finishes the job.
    """

    def __init__(self, root: str, how: str) -> None:
        super().__init__(root, how)
        self.root = root
        self.how = how

    def __str__(self) -> str:
        return (
            f"lost the write lock of root {self.root!r} ({self.how}); "
            "its last changes were rolled back: run the command again"
        )


class RootNotMappedError(UsageError):
    """A root has no path on this host, so its files cannot be reached from here."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.root = root

    def __str__(self) -> str:
        return (
            f"root {self.root!r} is not mapped on this host: "
            f"map it with `kino-catalog roots map {self.root} PATH`"
        )
