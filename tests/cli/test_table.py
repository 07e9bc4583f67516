"""The search table fits the terminal: columns chosen by width, numbers whole, one line a row."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import pytest
from rich.cells import cell_len
from rich.console import Console

from kino_catalog import Catalog
from kino_catalog.cli.table import cells_of, layout_columns, print_frames_table

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from tests.factories import CliResult, Library

WHOLE = ("id", "date", "project", "seed", "steps", "cfg", "size")


@pytest.fixture(scope="module")
def example_rows(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, Any]]]:
    """The frame JSON of the 14 example frames (seeds up to 2**64-1), newest first."""
    from tests.factories import copy_examples

    root = copy_examples(tmp_path_factory.mktemp("examples") / "library")
    with Catalog.open(root.parent / "catalog.db") as cat:
        cat.sync(str(root))
        yield [frame.to_dict() for frame in cat.iter_search("", limit=None)]


def _render(rows: list[dict[str, Any]], width: int, columns: Any = None) -> tuple[list[str], Any]:
    out = io.StringIO()
    console = Console(width=width, file=out, color_system=None, legacy_windows=False)
    layout = print_frames_table(console, [cells_of(row) for row in rows], columns)
    return out.getvalue().splitlines(), layout


def _sliced(line: str, layout: Any) -> dict[str, str]:
    """A rendered row cut into its cells by the layout's widths (ASCII before the prompt)."""
    cells, start = {}, 0
    for name, width in zip(layout.names, layout.widths, strict=True):
        cells[name] = line[start : start + width].strip()
        start += width + 2
    return cells


def _header(lines: list[str]) -> list[str]:
    return lines[0].split()


@pytest.mark.parametrize(
    ("width", "header"),
    [
        (80, ["id", "date", "project", "model", "prompt"]),
        (120, ["id", "date", "project", "model", "seed", "steps", "cfg", "prompt"]),
        (200, ["id", "date", "project", "model", "seed", "steps", "cfg", "loras", "prompt"]),
    ],
)
def test_columns_are_chosen_by_width_and_rows_never_wrap(
    example_rows: list[dict[str, Any]], width: int, header: list[str]
) -> None:
    lines, _ = _render(example_rows, width)
    assert _header(lines) == header
    assert len(lines) == 1 + len(example_rows)  # one line a row: nothing wrapped
    assert all(cell_len(line) <= width for line in lines)


@pytest.mark.parametrize("width", [80, 120, 200])
def test_numbers_and_dates_are_whole_and_text_is_ellipsised(
    example_rows: list[dict[str, Any]], width: int
) -> None:
    lines, layout = _render(example_rows, width)
    for row, line in zip(example_rows, lines[1:], strict=True):
        cells = cells_of(row)
        for name in layout.names:
            if name in WHOLE:
                assert cells[name] in line, (name, line)
        shown = _sliced(line, layout)
        for name in layout.names:
            if name not in WHOLE:  # text: whole, or a beginning and an ellipsis
                assert shown[name] == cells[name] or (
                    shown[name].endswith("…")
                    and cells[name].startswith(shown[name].removesuffix("…"))
                ), (name, shown[name])
    # the big seeds are there digit for digit wherever the seed column is
    if "seed" in layout.names:
        assert any("18446744073709551615" in line for line in lines)
    else:
        assert not any("1844674407" in line for line in lines)


def test_a_seed_is_shown_only_when_it_fits_whole(example_rows: list[dict[str, Any]]) -> None:
    small = [row for row in example_rows if row["seed"] < 10**10]
    big = [row for row in example_rows if row["seed"] >= 10**19]
    assert "seed" in _header(_render(small, 100)[0])
    assert "seed" not in _header(_render(big, 100)[0])


def test_a_model_is_shown_by_its_short_name(example_rows: list[dict[str, Any]]) -> None:
    lines, _ = _render(example_rows, 200)
    assert "sd_xl_base_1.0 " in lines[-5]
    assert not any(".safetensors" in line for line in lines)


def test_a_very_narrow_terminal_keeps_id_and_prompt(example_rows: list[dict[str, Any]]) -> None:
    lines, _ = _render(example_rows, 30)
    assert _header(lines) == ["id", "prompt"]
    assert all(cell_len(line) <= 30 for line in lines)


def test_prompts_are_one_line_of_text_not_markup() -> None:
    row = {
        "id": 1,
        "generated_at": "2025-10-13T15:05:30",
        "project_id": None,
        "plugin": "sdxl",
        "model_name": "models\\sdxl\\base.ckpt",
        "sampler": None,
        "seed": None,
        "steps": None,
        "cfg_scale": None,
        "width": None,
        "height": None,
        "loras": [],
        "tags": [],
        "prompt": "[red]castle[/red]\nat night",
    }
    lines, _ = _render([row], 80)
    assert len(lines) == 2
    assert "[red]castle[/red] at night" in lines[1]
    assert "base " in lines[1]


def test_requested_columns_keep_their_order_and_what_does_not_fit_is_named(
    example_rows: list[dict[str, Any]],
) -> None:
    rows = [cells_of(row) for row in example_rows]
    layout = layout_columns(rows, 60, ["seed", "id", "prompt", "steps", "cfg", "date"])
    assert layout.names == ("seed", "id", "prompt", "steps", "cfg")
    assert layout.left_out == ("date",)
    assert sum(layout.widths) + 2 * (len(layout.widths) - 1) <= 60


@pytest.fixture
def examples_cli(
    example_library: Library,
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., CliResult]:
    monkeypatch.setenv("COLUMNS", "100")
    assert run_cli("sync", str(example_library.root)).code == 0
    return run_cli


def test_columns_option_picks_the_table_columns(examples_cli: Callable[..., CliResult]) -> None:
    result = examples_cli("search", "project:7", "--columns", "id,seed,plugin")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["id", "seed", "plugin"]
    assert any(line.split() == ["1", "12297829382473034410", "sdxl"] for line in lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--columns", "id,bogus"], "unknown column 'bogus'"),
        (["--columns", "id", "--format", "json"], "needs --format table"),
    ],
)
def test_bad_columns_are_bad_usage(
    examples_cli: Callable[..., CliResult], args: list[str], message: str
) -> None:
    result = examples_cli("search", *args)
    assert result.code == 2
    assert message in result.err
    assert result.out == ""


def test_show_has_the_full_row(examples_cli: Callable[..., CliResult], tmp_path: Path) -> None:
    result = examples_cli("show", "1")
    assert "12297829382473034410" in result.out
    assert "dreamshaperXL_v21TurboDPMSDE.safetensors" in result.out
