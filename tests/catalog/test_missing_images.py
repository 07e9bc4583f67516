"""One definition of a missing image: stats, report and verify count the same frames."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from kino_catalog.schema.images import expected_images
from tests.factories import PNG_8X8, make_sidecar

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.factories import CliResult, Library


@pytest.mark.parametrize(
    ("image", "parameters", "expected"),
    [
        ("a.png", {"total_frames": 3}, ["a.png"]),
        ("c_seq_000.png", {"total_frames": 3}, ["c_seq_000.png", "c_seq_001.png", "c_seq_002.png"]),
        ("c_seq_0000.png", {"total_frames": 2}, ["c_seq_0000.png", "c_seq_0001.png"]),
        ("c_seq_000.png", {}, ["c_seq_000.png"]),
        ("c_seq_000.png", {"total_frames": "81"}, ["c_seq_000.png"]),
        ("c_seq_000.png", {"total_frames": True}, ["c_seq_000.png"]),
        ("c_seq_000.png", None, ["c_seq_000.png"]),
    ],
)
def test_expected_images(image: str, parameters: object, expected: list[str]) -> None:
    assert expected_images(image, parameters) == expected


def _counts(run_cli: Callable[..., CliResult], db: str, project: int | None) -> dict[str, int]:
    scope = ["--project", str(project)] if project is not None else []
    report = run_cli("report", *scope, "--format", "json", db=db).json()
    found = run_cli(
        "verify", *([f"project:{project}"] if project else []), "--format", "json", db=db
    )
    assert found.code in (0, 1), found.err
    counts = {
        "report": report["summary"]["missing_images"],
        "report_listed": len(report["missing_images"]),
        "verify": sum(p["kind"] == "missing_image" for p in found.json()),
    }
    if project is None:
        counts["stats"] = run_cli("stats", "--format", "json", db=db).json()["missing_images"]
    return counts


@pytest.mark.parametrize(
    ("project", "missing"),
    [(None, 2), (3, 1), (7, 0), (12, 1)],
)
def test_the_examples_count_the_same_everywhere(
    run_cli: Callable[..., CliResult],
    example_library: Library,
    any_target: str,
    project: int | None,
    missing: int,
) -> None:
    # project 3: a frame without its PNG; project 12: a wan22 sequence with 3 of
    # its 81 PNGs; project 7: a complete sequence of 5.
    assert run_cli("sync", str(example_library.root), db=any_target).code == 0
    assert set(_counts(run_cli, any_target, project).values()) == {missing}


def test_a_sequence_counts_once_and_heals_when_its_images_come_back(
    run_cli: Callable[..., CliResult], library: Library, any_target: str
) -> None:
    name = "project_5_frame_1_variant_0_seq_000"
    doc = make_sidecar(
        parameters={"total_frames": 4},
        plugin="wan22_i2v",
        output={"filename": f"{name}.png"},
        project_id=5,
    )
    sidecar = library.write(f"frames/{name}.json", doc)
    (sidecar.parent / "project_5_frame_1_variant_0_seq_001.png").write_bytes(PNG_8X8)
    library.frame(5, 2)  # complete
    library.frame(5, 3, image=False)  # no image at all
    assert run_cli("sync", str(library.root), db=any_target).code == 0
    assert set(_counts(run_cli, any_target, None).values()) == {2}
    assert set(_counts(run_cli, any_target, 5).values()) == {2}

    for i in (2, 3):
        (sidecar.parent / f"project_5_frame_1_variant_0_seq_{i:03d}.png").write_bytes(PNG_8X8)
    assert run_cli("sync", str(library.root), db=any_target).code == 0
    assert set(_counts(run_cli, any_target, None).values()) == {1}
    verified = run_cli("verify", "--format", "json", db=any_target).json()
    assert [p["path"].rsplit("/", 1)[-1] for p in verified] == ["project_5_frame_3_variant_0.png"]
