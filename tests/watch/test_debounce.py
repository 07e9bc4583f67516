"""Coalescing of watcher events into batches (pure; a fake clock)."""

from __future__ import annotations

import pytest

from kino_catalog.watch.debounce import ChangeSet, Retries, drop_covered, is_watched

DEBOUNCE = 0.2
MAX_WAIT = 2.0


def take(changes: ChangeSet, now: float, limit: int = 1000) -> dict[str, bool]:
    return changes.take_ready(now, DEBOUNCE, MAX_WAIT, limit)


def test_a_path_is_ready_once_quiet_for_the_debounce() -> None:
    changes = ChangeSet(100)
    changes.record("/r/a.json", 10.0)
    assert take(changes, 10.1) == {}
    assert changes.next_due(DEBOUNCE, MAX_WAIT) == pytest.approx(10.2)
    assert take(changes, 10.2) == {"/r/a.json": False}
    assert len(changes) == 0
    assert changes.next_due(DEBOUNCE, MAX_WAIT) is None


def test_repeated_events_coalesce_and_push_the_path_back() -> None:
    changes = ChangeSet(100)
    for t in (10.0, 10.1, 10.15):  # Kino writing a sidecar in chunks
        changes.record("/r/a.json", t)
    assert len(changes) == 1
    assert take(changes, 10.3) == {}
    assert take(changes, 10.35) == {"/r/a.json": False}


def test_debounce_is_per_path_so_a_steady_stream_is_not_starved() -> None:
    changes = ChangeSet(100)
    for i in range(20):  # a new frame every 0.1 s: never a global quiet moment
        changes.record(f"/r/{i}.json", 10.0 + i * 0.1)
    assert set(take(changes, 10.45)) == {"/r/0.json", "/r/1.json", "/r/2.json"}
    assert set(take(changes, 10.55)) == {"/r/3.json"}


def test_a_path_that_never_goes_quiet_is_taken_after_max_wait() -> None:
    changes = ChangeSet(100)
    t = 10.0
    while t < 12.0:
        changes.record("/r/busy.json", t)
        assert take(changes, t) == {}
        t += 0.1
    changes.record("/r/busy.json", 12.0)
    assert take(changes, 12.0) == {"/r/busy.json": False}


def test_a_full_set_refuses_new_paths_but_keeps_known_ones() -> None:
    changes = ChangeSet(2)
    assert changes.record("/r/a.json", 1.0)
    assert changes.record("/r/b.json", 1.0)
    assert not changes.record("/r/c.json", 1.0)
    assert changes.record("/r/a.json", 1.1)  # already pending: never an overflow
    assert len(changes) == 2


def test_batches_respect_the_limit_oldest_first() -> None:
    changes = ChangeSet(100)
    for i in range(5):
        changes.record(f"/r/{i}.json", 1.0 + i * 0.01)
    assert list(take(changes, 5.0, limit=2)) == ["/r/0.json", "/r/1.json"]
    assert list(take(changes, 5.0, limit=10)) == ["/r/2.json", "/r/3.json", "/r/4.json"]


def test_folder_events_cover_the_files_inside() -> None:
    changes = ChangeSet(100)
    changes.record("/r/frames/a.json", 1.0)
    changes.record("/r/frames", 1.0, is_folder=True)
    changes.record("/r/frames/deep/b.png", 1.0)
    changes.record("/r/other/c.json", 1.0)
    assert take(changes, 2.0) == {"/r/frames": True, "/r/other/c.json": False}


def test_a_path_seen_as_folder_stays_a_folder() -> None:
    changes = ChangeSet(100)
    changes.record("/r/x", 1.0, is_folder=True)
    changes.record("/r/x", 1.1)
    assert take(changes, 2.0) == {"/r/x": True}


def test_deferred_retries_do_not_hold_back_other_paths() -> None:
    changes = ChangeSet(100)
    changes.defer("/r/bad.json", 20.0)
    changes.record("/r/a.json", 10.0)
    assert take(changes, 10.2) == {"/r/a.json": False}
    assert changes.next_due(DEBOUNCE, MAX_WAIT) == 20.0
    assert take(changes, 19.9) == {}
    assert take(changes, 20.0) == {"/r/bad.json": False}


def test_a_fresh_event_supersedes_a_deferred_retry() -> None:
    changes = ChangeSet(100)
    changes.defer("/r/a.json", 20.0)
    changes.record("/r/a.json", 10.0)
    assert take(changes, 10.2) == {"/r/a.json": False}
    assert take(changes, 30.0) == {}


def test_discard_under_forgets_a_subtree() -> None:
    changes = ChangeSet(100)
    for path in ("/r/a.json", "/r/sub/b.json", "/rx/c.json"):
        changes.record(path, 1.0)
    changes.defer("/r/sub/d.json", 5.0)
    assert changes.discard_under("/r") == 3
    assert take(changes, 10.0) == {"/rx/c.json": False}


def test_drop_covered_keeps_siblings_with_a_common_prefix() -> None:
    batch = {"/r/a": True, "/r/ab/x.json": False, "/r/a/x.json": False}
    assert drop_covered(batch) == {"/r/a": True, "/r/ab/x.json": False}


def test_retries_back_off_then_give_up() -> None:
    retries = Retries(max_attempts=3, max_backoff_seconds=1.5)
    assert [retries.failed(["/r/a.json"]) for _ in range(3)] == [0.5, 1.0, 1.5]
    assert retries.failed(["/r/a.json"]) is None  # given up: a reconcile will cover it
    assert retries.failed(["/r/a.json"]) == 0.5  # and counted afresh after that


def test_a_success_resets_the_backoff() -> None:
    retries = Retries()
    retries.failed(["/r/a.json"])
    retries.failed(["/r/a.json"])
    retries.succeeded(["/r/a.json"])
    assert retries.failed(["/r/a.json"]) == 0.5


def test_rechecks_are_bounded_per_path() -> None:
    retries = Retries(max_rechecks=2)
    assert [retries.should_recheck("/r/a.json") for _ in range(3)] == [True, True, False]
    retries.forget_rechecks()
    assert retries.should_recheck("/r/a.json")


@pytest.mark.parametrize(
    ("path", "is_folder", "expected"),
    [
        ("/lib/frames/a.json", False, True),
        ("/lib/frames/a.png", False, True),
        ("/lib/frames/A.WEBP", False, True),
        ("/lib/frames", True, True),
        ("/lib/frames/notes.txt", False, False),
        ("/lib/frames/.kino-x1.tmp", False, False),
        ("/lib/frames/.a.json", False, False),
        ("/lib/.hidden/a.json", False, False),
        ("/library/a.json", False, False),  # a sibling with the same prefix
        ("/elsewhere/a.json", False, False),
    ],
)
def test_which_paths_are_watched(path: str, is_folder: bool, expected: bool) -> None:
    assert is_watched("/lib", path, is_folder=is_folder) is expected
