"""Forcing walk.py's choice of plan, for tests that check every plan gives the same answer."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING
from unittest import mock

from kino_catalog.query import walk

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["forced_plan"]

# Costs that make each plan the cheapest whatever the sizes; a forced setwalk
# is a walk that finds nothing within its (zero) steps.
_PATCHES = {
    "walk": {"_SET_ROW_US": 1e12},
    "set": {"_STEP_US": 1e12},
    "setwalk": {"_SET_ROW_US": 1e12, "_WALK_SLACK": 0, "_WALK_MIN_US": 0.0},
}


@contextlib.contextmanager
def forced_plan(plan: str | None) -> Iterator[None]:
    """Make walk.py choose ``plan`` whatever the sizes; None: as the sizes make it."""
    with contextlib.ExitStack() as stack:
        for name, value in _PATCHES[plan].items() if plan is not None else ():
            stack.enter_context(mock.patch.object(walk, name, value))
        yield
