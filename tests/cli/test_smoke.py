"""Every command has help, and the README's main job works on the examples."""

from __future__ import annotations

import pytest

from kino_catalog.cli.lazy import COMMANDS


@pytest.mark.parametrize("command", sorted(COMMANDS))  # every command, loaded or not
def test_every_command_has_help_with_an_example(run_cli, command):
    result = run_cli(command, "--help")
    assert result.code == 0
    assert "kino-catalog " + command in result.out


def test_sync_then_search_the_examples(run_cli, example_library):
    result = run_cli("sync", str(example_library.root))
    assert result.code == 0, result.err
    assert "14 added" in result.out
    found = run_cli("search", "lora:add_detail", "--format", "json").json()
    assert len(found) == 6
    assert all(
        any(
            lora["lora_name"].lower().replace("-", "_").find("add_detail") >= 0
            for lora in frame["loras"]
        )
        for frame in found
    )
