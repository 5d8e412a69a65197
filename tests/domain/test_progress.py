"""Import progress lines and bar positions."""

from __future__ import annotations

import pytest

from service.domain.progress import describe_progress, progress_percent


@pytest.mark.parametrize(
    ("phase", "done", "total", "line"),
    [
        ("fetching", 3200, 15147, "fetching 3,200/15,147 items"),
        ("fetching", 300, None, "fetching 300 items"),
        ("classifying", None, None, "classifying"),
        (None, None, None, "queued"),
        ("fetching", 20, 10, "fetching 10/10 items"),
    ],
)
def test_progress_reads_as_a_phase_with_thousands_separated_counts(
    phase: str | None, done: int | None, total: int | None, line: str
) -> None:
    assert describe_progress(phase, done, total) == line


def test_the_progress_bar_moves_forward_through_the_phases() -> None:
    order = [
        progress_percent("queued", None, None),
        progress_percent("fetching", 0, 100),
        progress_percent("fetching", 50, 100),
        progress_percent("fetching", 100, 100),
        progress_percent("classifying", None, None),
        progress_percent("storing", None, None),
        progress_percent("done", None, None),
    ]
    assert order == sorted(order)
    assert order[0] == 0
    assert order[-1] == 100
