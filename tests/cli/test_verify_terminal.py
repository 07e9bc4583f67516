"""verify on a real terminal (a pty): progress on stderr, findings on stdout, one line each.

Issue 15: the bar and the findings ran together on one line, a line was
printed twice, and the bar said "writing the index" during a check.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from tests.factories import Library

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")

FRAMES = 250
MISSING = range(10, FRAMES, 50)  # frames without their image: 5 findings among 250
_CSI = re.compile(r"\x1b\[([?0-9;]*)([A-Za-z])")


def _pty(columns: int = 200) -> tuple[int, int]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    return master, slave


def _run(db: Path, args: list[str], *, is_one_screen: bool) -> tuple[int, str, str]:
    """Run the CLI with stdout and stderr on one pty (one screen) or on two; returns
    (exit code, what stdout's pty got, what stderr's pty got)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "COLUMNS", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    out_master, out_slave = _pty()
    err_master, err_slave = (out_master, out_slave) if is_one_screen else _pty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kino_catalog", "--db", str(db), *args],
        stdin=subprocess.DEVNULL,
        stdout=out_slave,
        stderr=err_slave,
        env=env,
    )
    for fd in {out_slave, err_slave}:
        os.close(fd)
    got = {fd: b"" for fd in {out_master, err_master}}
    open_fds = set(got)
    while open_fds:
        ready, _, _ = select.select(list(open_fds), [], [], 60)
        if not ready:
            proc.kill()
            pytest.fail("verify hung")
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the other end is closed
                chunk = b""
            if chunk:
                got[fd] += chunk
            else:
                open_fds.discard(fd)
                os.close(fd)
    code = proc.wait(30)
    return code, got[out_master].decode(), got[err_master].decode()


def _screen(data: str) -> list[str]:
    """What a terminal shows after ``data``: carriage returns, erased lines and
    cursor moves applied (enough of a VT100 for rich's live display)."""
    lines: list[list[str]] = [[]]
    row = col = 0
    i = 0
    while i < len(data):
        ch = data[i]
        if ch == "\x1b":
            match = _CSI.match(data, i)
            if match is None:
                i += 1
                continue
            args, command = match.groups()
            if command == "K":
                lines[row] = [] if args == "2" else lines[row][:col]
            elif command == "A":
                row = max(0, row - int(args or 1))
            elif command == "G":
                col = int(args or 1) - 1
            i = match.end()
            continue
        if ch == "\r":
            col = 0
        elif ch == "\n":
            row += 1
            while len(lines) <= row:
                lines.append([])
        else:
            line = lines[row]
            line.extend(" " * (col - len(line) + 1))
            line[col] = ch
            col += 1
        i += 1
    return [text for text in ("".join(line).rstrip() for line in lines) if text]


@pytest.fixture
def damaged_db(library: Library, tmp_path: Path) -> tuple[Path, list[str]]:
    """A synced catalogue of FRAMES frames; the findings verify should print, in order."""
    from kino_catalog import Catalog

    expected = []
    for n in range(FRAMES):
        timestamp = f"2025{1 + n // 28 % 12:02d}{1 + n % 28:02d}_12{n // 336:02d}00"
        path = library.frame(9, n, image=n not in MISSING, timestamp=timestamp)
        if n in MISSING:
            image = path.with_suffix(".png")
            expected.append(f"missing_image\t{image}\t1 of 1 missing: {image.name}")
    db = tmp_path / "catalog.db"
    with Catalog.open(db) as cat:
        cat.sync(str(library.root))
        order = [f.image_path for f in cat.iter_search("", sort="oldest")]
    expected.sort(key=lambda line: order.index(line.split("\t")[1]))
    return db, expected


def test_findings_and_progress_share_one_screen_without_running_together(
    damaged_db: tuple[Path, list[str]],
) -> None:
    db, expected = damaged_db
    code, shown, _ = _run(db, ["verify"], is_one_screen=True)
    assert code == 1
    assert "verifying" in shown  # the bar was there
    assert "writing the index" not in shown
    assert _screen(shown) == [*expected, f"kino-catalog: {len(expected)} problems found"]


def test_findings_go_to_stdout_and_progress_to_stderr(
    damaged_db: tuple[Path, list[str]],
) -> None:
    db, expected = damaged_db
    code, out, err = _run(db, ["verify"], is_one_screen=False)
    assert code == 1
    assert out.replace("\r\n", "\n").splitlines() == expected
    assert "verifying" in err
    assert "writing the index" not in err
    assert _screen(err) == [f"kino-catalog: {len(expected)} problems found"]


def test_json_on_a_terminal_is_one_array_a_problem_a_line(
    damaged_db: tuple[Path, list[str]],
) -> None:
    import json

    db, expected = damaged_db
    code, shown, _ = _run(db, ["verify", "--format", "json"], is_one_screen=True)
    assert code == 1
    lines = _screen(shown)
    assert lines[-1] == f"kino-catalog: {len(expected)} problems found"
    problems = json.loads("\n".join(lines[:-1]))
    assert [p["path"] for p in problems] == [line.split("\t")[1] for line in expected]
    assert len(lines) == len(expected) + 3  # "[", one line each, "]", the summary
