"""The smaller things a new user meets first (issue 15, item 7).

CSV booleans, the `--` hint for a negated first term, the PostgreSQL extra,
the query fields in `search --help`, and shell completion as documented.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys

import pytest

from kino_catalog.report.render import csv_cell
from tests.factories import EXAMPLES

README = EXAMPLES.parent.parent / "README.md"


def test_csv_writes_json_booleans(run_cli, example_library):
    (example_library.root / "project_12" / "project_12_frame_1_variant_0.png").unlink()
    assert run_cli("sync", str(example_library.root)).code == 0
    result = run_cli("search", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert {row["image_exists"] for row in rows} == {"true", "false"}
    assert [csv_cell(v) for v in (True, False, None, 0, 1.5, "x")] == [
        "true",
        "false",
        "",
        0,
        1.5,
        "x",
    ]


@pytest.mark.parametrize(
    ("args", "term"),
    [(("search", "-sketch"), "-sketch"), (("search", "castle", "-sketch", "--count"), "-sketch")],
)
def test_a_negated_first_term_gets_the_double_dash_hint(run_cli, args, term):
    result = run_cli(*args)
    assert result.code == 2
    assert "No such option '-s'" in result.err
    assert result.err.rstrip().splitlines()[-1] == (
        "Hint: a query term starting with '-' (a negation) needs `--` before the query: "
        f"kino-catalog search -- {term}"
    )


@pytest.mark.parametrize("args", [("search", "--frob"), ("stats", "-x")])
def test_other_unknown_options_get_no_hint(run_cli, args):
    result = run_cli(*args)
    assert result.code == 2
    assert "Hint" not in result.err


def test_the_double_dash_form_works(run_cli, example_library):
    assert run_cli("sync", str(example_library.root)).code == 0
    everything = int(run_cli("search", "--count").out)
    dragons = int(run_cli("search", "--count", "dragon").out)
    result = run_cli("search", "--count", "--", "-dragon")
    assert (result.code, int(result.out)) == (0, everything - dragons)


def test_a_postgresql_url_without_the_driver_names_the_extra(run_cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg -> ImportError
    result = run_cli("stats", db="postgresql://ana:secret@127.0.0.1:5432/kino")
    assert result.code == 1
    [line] = result.err.splitlines()
    assert line.endswith("pip install 'kino-catalog[postgres]'")
    assert "PostgreSQL needs its driver" in line
    assert "secret" not in line


def test_search_help_summarises_the_query_fields(run_cli):
    text = run_cli("search", "--help").out
    for form in ("lora:", "model:", "steps:", "date:", "neg:", "num_frames:81", "-- -sketch"):
        assert form in text
    assert 'README\'s "Query language" section' in text
    assert "## Query language" in README.read_text(encoding="utf-8")


def test_the_readme_says_what_python_and_to_use_a_venv():
    text = README.read_text(encoding="utf-8")
    start = text[: text.index("## Everyday use")]
    assert "Python 3.11 or newer" in start
    assert "python3 -m venv .venv" in start


def test_shell_completion_works_as_the_readme_says():
    text = README.read_text(encoding="utf-8")
    assert "_KINO_CATALOG_COMPLETE=bash_source kino-catalog" in text
    env = {
        **os.environ,
        "_KINO_CATALOG_COMPLETE": "bash_complete",
        "COMP_WORDS": "kino-catalog sea",
        "COMP_CWORD": "1",
    }
    found = subprocess.run(
        [sys.executable, "-m", "kino_catalog"], env=env, capture_output=True, text=True, check=True
    )
    assert found.stdout.split() == ["plain,search"]
    env["_KINO_CATALOG_COMPLETE"] = "bash_source"
    script = subprocess.run(
        [sys.executable, "-m", "kino_catalog"], env=env, capture_output=True, text=True, check=True
    )
    assert "_kino_catalog_completion" in script.stdout
