"""One sidecar file -> plain row tuples for the catalogue tables (or a failure).

This is the unit of work that index and rebuild fan out to worker processes,
so everything here is picklable, free of SQLAlchemy, and allocation-light.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import json
import os
from typing import TYPE_CHECKING, Any, NamedTuple

from kino_catalog.errors import (
    NotASidecarError,
    SidecarError,
    SidecarParseError,
)
from kino_catalog.index.image_location import locate_image
from kino_catalog.index.walk import is_walked_file
from kino_catalog.sidecar import MAX_SIDECAR_BYTES, loads_exact, too_big_reason
from kino_catalog.sidecar.record import (
    encode_int_key,
    is_kino_name,
    normalise_name,
    parse_record,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from kino_catalog.index.walk import FileStat
    from kino_catalog.sidecar.record import FrameRecord

__all__ = [
    "FAILURE_COLUMNS",
    "FRAME_COLUMNS",
    "LORA_COLUMNS",
    "PARAMETER_COLUMNS",
    "TAG_COLUMNS",
    "FailedFile",
    "FrameRows",
    "db_datetime",
    "read_frame",
    "read_frames",
]

# Column order of FrameRows.frame; the writer prepends id and root_id.
FRAME_COLUMNS = (
    "folder",
    "name",
    "image_name",
    "image_exists",
    "image_count",
    "project_id",
    "plugin",
    "plugin_version",
    "task_id",
    "kino_frame_id",
    "timestamp",
    "generated_at",
    "prompt",
    "negative_prompt",
    "model_name",
    "model_key",
    "sampler",
    "scheduler",
    "seed_key",
    "steps",
    "cfg_scale",
    "width",
    "height",
    "size",
    "mtime_ns",
    "content_hash",
    "rating",
    "notes",
    "image_hash",
    "gpu",
    "driver",
)
# The writer prepends frame_id to LoRA and parameter rows.
LORA_COLUMNS = (
    "role",
    "position",
    "name",
    "key",
    "strength_model",
    "strength_clip",
    "generated_at",
)
PARAMETER_COLUMNS = ("key", "value_type", "value_num", "value_text")
# The writer prepends frame_id to tag rows.
TAG_COLUMNS = ("tag",)
# Column order of FailedFile.row(); the writer adds root_id before, recorded_at after.
FAILURE_COLUMNS = ("folder", "name", "kind", "reason", "size", "mtime_ns")

_READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_BOM = codecs.BOM_UTF8
_ADVISE = getattr(os, "posix_fadvise", None)  # not on Windows or macOS
READ_AHEAD_FILES = 256  # files a reader holds open at once: far below any descriptor limit
_GROWTH_READ = 1 << 16  # bytes per read past the size fstat gave (a file being written)
_SIZE, _MTIME = FRAME_COLUMNS.index("size"), FRAME_COLUMNS.index("mtime_ns")


class FrameRows(NamedTuple):
    """The rows one valid sidecar contributes.

    A NamedTuple, not a dataclass: these cross process boundaries by the
    million and tuples pickle several times faster.
    """

    frame: tuple[Any, ...]
    raw_json: str  # the exact text, for frame_documents
    loras: list[tuple[Any, ...]]
    parameters: list[tuple[Any, ...]]
    project_id: int | None
    tags: tuple[str, ...] = ()  # case-folded tag keys
    # Indexed, but listed as a warning: values left out of typed columns, an import's problem.
    problem: str | None = None

    def failure(self) -> FailedFile | None:
        """The index_errors record (kind "warning") listing this frame's problem, if any."""
        if self.problem is None:
            return None
        folder, name = self.frame[0], self.frame[1]
        size, mtime_ns = self.frame[_SIZE], self.frame[_MTIME]
        return FailedFile(folder, name, size, mtime_ns, "warning", self.problem)


class FailedFile(NamedTuple):
    """A .json file that is not a frame: kind "error" (listed) or "not_sidecar";
    or a frame's warnings (kind "warning", see FrameRows.failure)."""

    folder: str
    name: str
    size: int
    mtime_ns: int
    kind: str
    reason: str

    def row(self) -> tuple[str, str, str, str, int, int]:
        """Its index_errors columns, in FAILURE_COLUMNS order."""
        return (self.folder, self.name, self.kind, self.reason, self.size, self.mtime_ns)


def read_frame(
    root: str,
    folder: str,
    file: FileStat,
    image_hint: tuple[str, bool, int] | None = None,
    opened: int | OSError | None = None,
) -> FrameRows | FailedFile | None:
    """Read, validate and flatten one sidecar; None if it vanished meanwhile.

    ``image_hint`` is the caller's :func:`locate_image` answer from a folder
    listing when the same-stem image exists (saves disk lookups per file);
    without it the disk is asked.  Never raises for a bad file: the reason
    ends up in a FailedFile.  The size and mtime recorded are those of the
    bytes actually read, so a file rewritten meanwhile counts as changed.
    ``opened``: the file's descriptor (or the error opening it) from
    :func:`read_frames`' read-ahead; it is closed here.
    """
    directory = f"{root}/{folder}" if folder else root
    path = f"{directory}/{file.name}"
    try:
        fd = _open(path, opened)
        try:
            st = os.fstat(fd)
            data = b"" if st.st_size > MAX_SIDECAR_BYTES else _read_all(fd, st.st_size)
        finally:
            os.close(fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return FailedFile(
            folder,
            file.name,
            file.size,
            file.mtime_ns,
            "error",
            f"cannot read: {exc.strerror or exc}",
        )

    def has_file(name: str) -> bool:  # as the walk would list it: see is_walked_file
        return name[:1] != "." and is_walked_file(root, f"{directory}/{name}")

    size = max(st.st_size, len(data))
    is_expected = (
        image_hint is not None
        or is_kino_name(file.name)
        or has_file(file.name[: -len(".json")] + ".png")
    )
    try:
        if size > MAX_SIDECAR_BYTES:
            raise SidecarParseError(path, too_big_reason(size))
        doc = loads_exact(data, path)
        record = parse_record(doc, path, is_expected_sidecar=is_expected)
        image = image_hint or locate_image(file.name, record.output_filename, has_file)
        return _rows(record, folder, file.name, data, size, st.st_mtime_ns, image)
    except NotASidecarError as exc:
        return FailedFile(folder, file.name, size, st.st_mtime_ns, "not_sidecar", exc.reason)
    except SidecarError as exc:
        kind = "error" if is_expected or not isinstance(exc, SidecarParseError) else "not_sidecar"
        return FailedFile(folder, file.name, size, st.st_mtime_ns, kind, exc.reason)


def _read_all(fd: int, size: int) -> bytes:
    """The file's bytes, at most MAX_SIDECAR_BYTES + 1 (more means too big).

    Plain ``os.read`` on the descriptor: ``open()`` adds a buffered reader, an
    isatty ioctl, a seek and a second fstat per file (5 of a reader's 13 us of
    I/O per sidecar).  Asks for the size ``fstat`` gave plus one byte, not for
    the limit (a 1 MiB request allocates 1 MiB per file); the extra byte tells
    a file that grew since the fstat, read on 64 KiB at a time.  A read may
    return less than asked, so it reads until one returns nothing.
    """
    chunks: list[bytes] = []
    total, request = 0, size + 1
    while request:
        chunk = os.read(fd, request)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        left = size + 1 - total if total <= size else _GROWTH_READ
        request = min(left, MAX_SIDECAR_BYTES + 1 - total)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _open(path: str, opened: int | OSError | None) -> int:
    if opened is None:
        return os.open(path, _READ_FLAGS)
    if isinstance(opened, OSError):
        raise opened
    return opened


def _open_ahead(
    root: str,
    tasks: Sequence[tuple[str, FileStat, Any, Any, Any]],
    advise: Callable[[int, int, int, int], None],
) -> list[int | OSError]:
    """Open a chunk's files and ask the kernel to start reading them all now.

    Read one by one, files that are not in the page cache (a first index
    after a reboot, a library bigger than memory) keep a reader waiting for
    the disk once per file, one request deep; announced together, the disk
    gets the whole chunk's requests at once and the reads after hit memory.
    Costs ~1 us per file when everything is cached already.
    """
    opened: list[int | OSError] = []
    for folder, stat, _, _, _ in tasks:
        path = f"{root}/{folder}/{stat.name}" if folder else f"{root}/{stat.name}"
        try:
            fd = os.open(path, _READ_FLAGS)
        except OSError as exc:
            opened.append(exc)
            continue
        opened.append(fd)
        try:
            advise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass  # advice only
    return opened


def read_frames(
    root: str,
    tasks: Sequence[tuple[str, FileStat, Any, Any, Any]],
) -> list[FrameRows | FailedFile | None]:
    """:func:`read_frame` for a chunk of (folder, stat, _, _, image hint) tasks (a reader's job)."""
    advise = _ADVISE
    if advise is None:  # no posix_fadvise (macOS, Windows): open each file as it is read
        return [read_frame(root, folder, stat, hint) for folder, stat, _, _, hint in tasks]
    outcomes: list[FrameRows | FailedFile | None] = []
    for start in range(0, len(tasks), READ_AHEAD_FILES):
        window = tasks[start : start + READ_AHEAD_FILES]
        opened = _open_ahead(root, window, advise)
        done = 0
        try:
            for (folder, stat, _, _, hint), fd in zip(window, opened, strict=True):
                done += 1  # read_frame closes it, whatever happens
                outcomes.append(read_frame(root, folder, stat, hint, fd))
        finally:
            for fd in opened[done:]:
                if isinstance(fd, int):
                    os.close(fd)
    return outcomes


def db_datetime(value: dt.datetime) -> str:
    """A naive datetime as SQLAlchemy stores it in SQLite (and PostgreSQL parses).

    Formatting here, in the worker processes, keeps the writer's per-row work
    to a tuple concatenation; the format must match SQLAlchemy's exactly so
    that query bounds (bound as datetimes) compare correctly as text.
    """
    return value.isoformat(" ", "microseconds")


def _text(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; the exact value stays in raw_json.
    return value.replace("\x00", "\ufffd") if value and "\x00" in value else value


def _rows(
    record: FrameRecord,
    folder: str,
    name: str,
    data: bytes,
    size: int,
    mtime_ns: int,
    image: tuple[str, bool, int],
) -> FrameRows:
    """The catalogue rows of a validated record (every integer already fits its column)."""
    extras = record.extras
    image_name, image_exists, image_count = image
    generated_at = db_datetime(record.generated_at or dt.datetime.fromtimestamp(mtime_ns / 1e9))
    model_name = record.model_name
    frame = (
        folder,
        name,
        image_name,
        image_exists,
        image_count,
        record.project_id,
        record.plugin,
        record.plugin_version,
        record.task_id,
        record.kino_frame_id,
        record.timestamp,
        generated_at,
        record.prompt,
        record.negative_prompt,
        model_name,
        normalise_name(model_name) if model_name else None,
        record.sampler,
        record.scheduler,
        encode_int_key(record.seed) if record.seed is not None else None,
        record.steps,
        record.cfg_scale,
        record.width,
        record.height,
        size,
        mtime_ns,
        hashlib.blake2b(data, digest_size=16).hexdigest(),
        extras.rating,
        extras.notes,
        extras.image_hash,
        extras.gpu,
        extras.driver,
    )
    loras = [
        (u.role, u.position, u.name, u.key, u.strength_model, u.strength_clip, generated_at)
        for u in record.loras
    ]
    params = [_parameter_row(key, value) for key, value in record.extra_parameters]
    tags = extras.tag_keys
    # JSON can only carry NUL as an escape: without one, no string needs _text.
    if b"\\u0000" in data:
        frame = _without_nul(frame)
        # "a\u0000" and "a\ufffd" are one key now: keep the first.
        loras = _first_by_key([_without_nul(row) for row in loras], 2)
        params = _first_by_key([_without_nul(row) for row in params], 1)
        tags = tuple(dict.fromkeys(_text(tag) or "" for tag in tags))
    problems = list(record.warnings)
    if extras.import_error:
        problems.append(f"imported metadata: {extras.import_error}")
    problem = _text("; ".join(problems)) if problems else None
    # As decode("utf-8-sig"), whose BOM check is Python code run per call.
    text = data[3:].decode() if data.startswith(_BOM) else data.decode()
    return FrameRows(frame, text, loras, params, record.project_id, tags, problem)


def _without_nul(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(_text(value) if type(value) is str else value for value in row)


def _first_by_key(rows: list[tuple[Any, ...]], width: int) -> list[tuple[Any, ...]]:
    first: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for row in rows:
        first.setdefault(row[:width], row)
    return list(first.values())


def _parameter_row(key: str, value: Any) -> tuple[str, str, float | None, str | None]:
    if value is None:
        return (key, "null", None, None)
    if isinstance(value, bool):
        return (key, "bool", float(value), "true" if value else "false")
    if isinstance(value, int):
        try:
            number: float | None = float(value)
        except OverflowError:
            number = None
        return (key, "int", number, str(value))
    if isinstance(value, float):
        return (key, "float", value, repr(value))
    if isinstance(value, str):
        return (key, "str", None, _text(value))
    kind = "list" if isinstance(value, list) else "object"
    return (key, kind, None, _text(json.dumps(value, ensure_ascii=False, separators=(",", ":"))))
