"""Every command in the README runs on the bundled examples as written (issue 15).

The ``bash`` / ``sh`` / ``console`` blocks run in README order, as one reader
following it in one shell would: in a copy of ``examples/`` with a temporary
home folder (so the default catalogue is temporary too), exported variables
carried from block to block.  A ``bash`` block must exit 0; a ``console``
block's ``$ command`` lines must print exactly the lines under them.  A block
that cannot run here is marked just above its fence with
``<!-- readme-test: skip: why -->`` and is reported as skipped with that
reason; nothing is skipped silently.  Python blocks are not run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
SHELL_LANGUAGES = ("bash", "sh", "shell", "console")
SKIP_MARKER = re.compile(r"^<!-- readme-test: skip: (?P<reason>.*?) -->$")
_FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```$", re.S | re.M)
#: Variables of the shell running the tests that must not reach the README's commands.
_CLEARED = ("KINO_CATALOG_DB", "KINO_URL", "KINO_CATALOG_HOST", "XDG_DATA_HOME", "XDG_CACHE_HOME")


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    lang: str
    body: str
    skip: str | None  # the marker's reason

    @property
    def id(self) -> str:
        return f"line{self.line}-{self.lang}"


def readme_blocks(text: str) -> list[Block]:
    """The README's shell and console blocks, with the skip marker above each, if any."""
    lines = text.splitlines()
    blocks = []
    for match in _FENCE.finditer(text):
        if match["lang"] not in SHELL_LANGUAGES:
            continue
        line = text.count("\n", 0, match.start()) + 1
        above = SKIP_MARKER.match(lines[line - 2]) if line >= 2 else None
        blocks.append(Block(line, match["lang"], match["body"], above["reason"] if above else None))
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


def test_every_skip_marker_sits_above_a_block_and_says_why() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    markers = [i + 1 for i, line in enumerate(lines) if line.startswith("<!-- readme-test")]
    assert all(SKIP_MARKER.match(lines[i - 1]) for i in markers), "malformed marker"
    skipped = [block for block in BLOCKS if block.skip is not None]
    assert [block.line - 1 for block in skipped] == markers
    assert all(block.skip.strip() for block in skipped)
    assert len(BLOCKS) - len(skipped) >= 5  # the README's main examples do run


class Session:
    """One reader's shell: a working folder holding ``examples/``, and the environment."""

    def __init__(self, root: Path) -> None:
        self.cwd = root / "checkout"
        shutil.copytree(
            REPO / "examples",
            self.cwd / "examples",
            ignore=shutil.ignore_patterns(".kino-catalog-*", "*.db.locks"),
        )
        home = root / "home"
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
        env["HOME"] = str(home)
        # the kino-catalog of the interpreter running the tests
        env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
        self.env = env
        self.env_file = root / "env"

    def run(self, script: str) -> subprocess.CompletedProcess[str]:
        """Run ``script`` under ``bash -euo pipefail``; keep what it exported."""
        wrapped = f'set -euo pipefail\n{script}\nenv -0 > "$README_TEST_ENV"\n'
        result = subprocess.run(
            ["bash", "-c", wrapped],
            cwd=self.cwd,
            env={**self.env, "README_TEST_ENV": str(self.env_file)},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode == 0:
            pairs = self.env_file.read_text().split("\0")
            self.env = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
            self.env.pop("README_TEST_ENV", None)
        return result


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    return Session(tmp_path_factory.mktemp("readme"))


def _console_steps(body: str) -> list[tuple[str, list[str]]]:
    """``$ command`` lines and the output lines under each."""
    steps: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line.rstrip())
        else:
            raise AssertionError(f"console block: output before any command: {line!r}")
    return steps


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_readme_block_runs_on_the_examples(session: Session, block: Block) -> None:
    if block.skip is not None:
        pytest.skip(f"README line {block.line}: {block.skip}")
    if block.lang != "console":
        result = session.run(block.body)
        assert result.returncode == 0, (
            f"README line {block.line}: exit {result.returncode}\n"
            f"{block.body}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
        assert "Traceback" not in result.stderr
        return
    for command, expected in _console_steps(block.body):
        result = session.run(command)
        assert result.returncode == 0, f"README line {block.line}: {command}\n{result.stderr}"
        shown = [line.rstrip() for line in result.stdout.splitlines()]
        assert shown == expected, f"README line {block.line}: {command}"
