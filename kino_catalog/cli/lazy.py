"""Commands imported on use: `kino-catalog --help` loads no command module.

Start-up is paid by every script that calls the CLI in a loop (issue 15:
`--help` took 0.75-1.1 s, importing SQLAlchemy, Alembic and Starlette).  A
command's module, and what it imports, is loaded only when that command
runs (click's LazyGroup pattern); the group's help lists the commands from
COMMANDS, whose short help tests/cli/test_lazy.py checks against the
commands themselves.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

__all__ = ["COMMANDS", "LazyGroup"]

#: command -> (module under kino_catalog.cli that defines it, its short help)
COMMANDS: dict[str, tuple[str, str]] = {
    "duplicates": (
        "verify",
        "List frames whose images have the same recorded hash (run `hash` first).",
    ),
    "errors": (
        "indexing",
        "List sidecars that could not be indexed (error) and frames indexed with a warning.",
    ),
    "hash": (
        "verify",
        "Record a SHA-256 image hash in each matching sidecar that lacks one (writes sidecars).",
    ),
    "import": (
        "importing",
        "Write a Kino sidecar beside each image made by another tool, and index it.",
    ),
    "note": (
        "annotate",
        "Set FRAME's notes (an empty TEXT removes them), written into the sidecar.",
    ),
    "preset": (
        "presets",
        "Named parameter presets, kept as JSON files in the library's presets/ folder.",
    ),
    "rate": (
        "annotate",
        "Rate FRAME (or every frame of --query) from 0 to 5, written into the sidecar.",
    ),
    "rebuild": (
        "indexing",
        "Re-read every sidecar from disk (no ROOT: every root this host has).",
    ),
    "regen": (
        "regen",
        "Print the Kino request that regenerates a frame (FRAME: id, sidecar or image path).",
    ),
    "report": ("report", "Report what was made, with which models and LoRAs, and when."),
    "roots": (
        "roots",
        "List the roots (library folders): frames, where this host has them, last sync.",
    ),
    "search": (
        "browse",
        "Find frames with the query language (an empty query matches every frame).",
    ),
    "serve": (
        "serve",
        "Browse and search the catalogue in a web browser, and serve the JSON API.",
    ),
    "show": (
        "browse",
        "Show one frame in full: FRAME is an id, a sidecar path or an image path.",
    ),
    "stats": ("indexing", "Catalogue health: frames, projects, errors, missing images, roots."),
    "sync": (
        "indexing",
        "Index new and changed sidecars, drop deleted ones (no ROOT: every root this host has).",
    ),
    "tag": (
        "annotate",
        "Add or remove tags; they are written into the sidecars, so a rebuild keeps them.",
    ),
    "tasks": (
        "tasks",
        "Show what Kino did with tasks (as printed by `regen --submit`), in order.",
    ),
    "thumbs": (
        "serve",
        "Make the gallery's thumbnails ahead of time (every frame, or a query's frames).",
    ),
    "verify": (
        "verify",
        "Check images against sidecars: missing, changed (hash), orphan PNGs, wrong filenames.",
    ),
    "watch": ("watch", "Sync, then index new, changed, moved and deleted sidecars as they happen."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported the first time they are asked for.

    The command modules register themselves on the group with ``@cli.command()``
    as they are imported, so get_command only has to import the right one.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(f"kino_catalog.cli.{COMMANDS[cmd_name][0]}")
        return self.commands.get(cmd_name)

    def load_all(self) -> dict[str, click.Command]:
        """Every command, imported (for tests and documentation)."""
        for name in COMMANDS:
            self.get_command(click.Context(self), name)
        return dict(self.commands)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from COMMANDS: help imports no command module."""
        rows: list[tuple[str, Any]] = []
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max((len(name) for name in names), default=0)
        for name in names:
            command = self.commands.get(name)
            if command is not None:
                if command.hidden:
                    continue
                rows.append((name, command.get_short_help_str(limit)))
            else:
                # shortened as click shortens the command's own help
                stand_in = click.Command(name, help=COMMANDS[name][1])
                rows.append((name, stand_in.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
