"""The search command: formats, limits in a pipe and on a terminal, sort, count, exit codes."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

import pytest

from kino_catalog.catalog import counts
from kino_catalog.cli import browse

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.factories import CliResult, Library

BIG_SEED = 2**64 - 1


@pytest.fixture
def indexed_cli(library: Library, run_cli: Callable[..., CliResult]) -> Callable[..., CliResult]:
    """Five frames (frame n has steps 10*n, newest last) indexed; returns run_cli."""
    for n in range(1, 6):
        library.frame(
            4,
            n,
            parameters={
                "steps": 10 * n,
                "seed": BIG_SEED if n == 5 else n,
                "prompt": f"castle number {n}",
            },
            timestamp=f"202510{n:02d}_120000",
        )
    assert run_cli("sync", str(library.root)).code == 0
    return run_cli


def _steps(frames: list[dict[str, Any]]) -> list[int]:
    return [frame["steps"] for frame in frames]


def test_json_is_one_array_newest_first_with_exact_seeds(
    indexed_cli: Callable[..., CliResult],
) -> None:
    result = indexed_cli("search", "castle", "--format", "json")
    assert result.code == 0, result.err
    frames = result.json()
    assert _steps(frames) == [50, 40, 30, 20, 10]
    assert frames[0]["seed"] == BIG_SEED
    assert frames[0]["parameters"]["prompt"] == "castle number 5"


def test_a_pipe_gets_jsonl_and_every_result_by_default(
    indexed_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(browse, "TERMINAL_LIMIT", 2)
    result = indexed_cli("search", "castle")
    lines = result.out.splitlines()
    assert len(lines) == 5
    assert [json.loads(line)["steps"] for line in lines] == [50, 40, 30, 20, 10]


def test_a_terminal_gets_a_table_limited_with_a_note(
    indexed_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(browse, "is_terminal", lambda: True)
    monkeypatch.setattr(browse, "TERMINAL_LIMIT", 2)
    result = indexed_cli("search", "castle")
    assert result.code == 0, result.err
    assert "castle number 5" in result.out
    assert "castle number 3" not in result.out
    assert "5 frames (showing 2; --limit 0 for all)" in result.err
    assert "about" not in result.err  # exact, not the estimate of the test below


def test_a_terminal_shows_an_estimate_when_counting_takes_long(
    indexed_cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(browse, "is_terminal", lambda: True)
    monkeypatch.setattr(browse, "TERMINAL_LIMIT", 2)
    monkeypatch.setattr(counts, "EXACT_BUDGET_MS", -1)
    monkeypatch.setattr(counts, "_CHECK_EVERY", 1)
    result = indexed_cli("search", "castle")
    assert result.code == 0, result.err
    assert "about 5 frames (showing 2; --limit 0 for all)" in result.err
    assert indexed_cli("search", "--count", "castle").out.strip() == "5"  # always exact


@pytest.mark.parametrize(
    ("args", "steps"),
    [
        (["--limit", "2"], [50, 40]),
        (["--limit", "0"], [50, 40, 30, 20, 10]),
        (["--sort", "oldest", "--limit", "2"], [10, 20]),
        (["--sort", "steps"], [10, 20, 30, 40, 50]),
        (["--sort", "seed"], [10, 20, 30, 40, 50]),
        (["--sort", "relevance", "--limit", "1"], [50]),
    ],
)
def test_limit_and_sort(
    indexed_cli: Callable[..., CliResult], args: list[str], steps: list[int]
) -> None:
    result = indexed_cli("search", "castle", "--format", "json", *args)
    assert _steps(result.json()) == steps


def test_query_words_may_come_as_separate_arguments(indexed_cli: Callable[..., CliResult]) -> None:
    result = indexed_cli("search", "--format", "json", "--", "castle", "steps:>=30", "-steps:40")
    assert _steps(result.json()) == [50, 30]


def test_csv_has_a_header_and_one_row_per_frame(indexed_cli: Callable[..., CliResult]) -> None:
    result = indexed_cli("search", "steps:20..30", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert [row["steps"] for row in rows] == ["30", "20"]
    assert rows[0]["loras"] == "add_detail.safetensors:0.8"


def test_paths_are_image_paths(indexed_cli: Callable[..., CliResult], library: Library) -> None:
    result = indexed_cli("search", "steps:10", "--format", "paths")
    assert result.out.splitlines() == [
        str(library.root / "frames" / "project_4_frame_1_variant_0.png")
    ]


def test_count(indexed_cli: Callable[..., CliResult]) -> None:
    assert indexed_cli("search", "castle", "--count").out.strip() == "5"
    assert indexed_cli("search", "lora:add_detail", "steps:>20", "--count").out.strip() == "3"
    assert indexed_cli("search", "--count").out.strip() == "5"


def test_no_match_is_success_with_empty_output(indexed_cli: Callable[..., CliResult]) -> None:
    result = indexed_cli("search", "dragon", "--format", "json")
    assert result.code == 0
    assert result.json() == []
    assert indexed_cli("search", "dragon").out == ""


@pytest.mark.parametrize(
    ("query", "term"),
    [
        ("steps:abc", "steps:abc"),
        ('"unclosed', '"unclosed'),
        ("(castle", "("),
        ("cfg:>", "cfg:>"),
        ("date:2025-13-45", "date:2025-13-45"),
        ("castle rating:abc", "rating:abc"),
    ],
)
@pytest.mark.parametrize("fmt", ["json", "table", "jsonl"])
def test_a_bad_query_exits_2_with_one_line_naming_the_term(
    indexed_cli: Callable[..., CliResult], query: str, term: str, fmt: str
) -> None:
    result = indexed_cli("search", query, "--format", fmt)
    assert result.code == 2
    assert result.out == ""  # nothing half-printed (no lone "[")
    assert len(result.err.strip().splitlines()) == 1
    assert repr(term) in result.err
    assert indexed_cli("search", query, "--count").code == 2


def test_a_bad_sort_key_is_bad_usage(indexed_cli: Callable[..., CliResult]) -> None:
    assert indexed_cli("search", "castle", "--sort", "random").code == 2
