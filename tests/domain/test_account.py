"""The import's account: every item read is used, skipped with a reason, or malformed."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.miro.normalize import normalize_miro
from connectors.mural.normalize import normalize_mural
from service.domain.account import malformed_error, summary_line
from service.domain.digitize import digitize
from testkit.builders import (
    miro_dump,
    miro_frame,
    miro_item,
    miro_sticky,
    miro_text,
    mural_dump,
    mural_sticky,
)


def _account(board_dump: dict[str, Any], provider: str = "miro") -> dict[str, Any]:
    normalize = normalize_miro if provider == "miro" else normalize_mural
    account: dict[str, Any] = digitize(normalize(board_dump))["account"]
    return account


def _skipped(account: dict[str, Any]) -> dict[str, int]:
    return {entry["reason"]: entry["count"] for entry in account["skipped"]}


def test_every_item_read_is_used_skipped_or_malformed() -> None:
    broken = miro_sticky("bad", "x", 0, 0)
    broken["geometry"]["width"] = "wide"
    items = [
        miro_frame("f", "Ist-Zustand", 0, 0),
        miro_sticky("s1", "Auftrag prüfen", 100, 100, parent="f"),
        miro_sticky("s2", "", 400, 100, parent="f"),
        miro_sticky("dup", "Versand", 700, 100, parent="f"),
        miro_sticky("dup", "again", 900, 100, parent="f"),
        miro_text("t", "Vertrieb", 20, 100, parent="f"),
        miro_item("img", "image", 3000, 3000, data={"title": "logo.png"}),
        broken,
        "not an item",
    ]

    account = _account(miro_dump(items))

    assert account["read"] == 9
    assert account["used"] == {"container": 1, "label": 1, "step": 2}
    assert _skipped(account) == {
        "duplicate id": 1,
        "empty": 1,
        "image without a role": 1,
        "not a JSON object": 1,
    }
    assert account["malformed"]["count"] == 1
    assert account["malformed"]["items"] == [
        {"item_id": "bad", "field": "geometry.width", "problem": "not a number: 'wide'"}
    ]
    used = sum(account["used"].values())
    assert used + sum(_skipped(account).values()) + 1 == account["read"]


def test_a_board_whose_stickies_have_no_colour_warns_that_colour_rules_were_blind() -> None:
    """Miro's list schema (GenericItem) does not promise ``style`` (miro-api.md 3.2)."""
    stickies = [miro_sticky(str(n), f"Schritt {n}", n * 300, 0) for n in range(3)]
    for sticky in stickies:
        del sticky["style"]

    account = _account(miro_dump(stickies))

    assert [warning["code"] for warning in account["warnings"]] == ["no_sticky_colour"]


def test_a_board_with_coloured_stickies_has_no_colour_warning() -> None:
    account = _account(mural_dump([mural_sticky("w", "Schritt", 0, 0)]), "mural")

    assert account["warnings"] == []


def _with_malformed(good: int, bad: int) -> dict[str, Any]:
    items = [miro_sticky(f"g{n}", "Schritt", n * 300, 0) for n in range(good)]
    for n in range(bad):
        item = miro_sticky(f"b{n}", "Schritt", n * 300, 900)
        del item["position"]
        items.append(item)
    return _account(miro_dump(items))


@pytest.mark.parametrize(
    ("good", "bad", "max_share", "fails"),
    [
        (99, 1, 0.02, False),
        (97, 3, 0.02, True),
        (99, 1, 0.0, True),
        (100, 0, 0.0, False),
    ],
)
def test_the_malformed_share_above_the_limit_fails(
    good: int, bad: int, max_share: float, fails: bool
) -> None:
    error = malformed_error(_with_malformed(good, bad), max_share)

    assert (error is not None) == fails


def test_the_failure_names_the_first_few_malformed_items() -> None:
    error = malformed_error(_with_malformed(5, 4), 0.02)

    assert error is not None
    assert error.startswith("4 of 9 items (44.4%) are malformed, more than the 2.0% the rules")
    assert "b0 (position: missing); b1 (position: missing); b2 (position: missing)" in error
    assert "b3" not in error


def test_the_summary_line_adds_up_for_people() -> None:
    line = summary_line(_with_malformed(3, 1))

    assert line == "read 4: used 3, skipped 0, malformed 1"
