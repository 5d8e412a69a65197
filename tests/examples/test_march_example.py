"""The March follow-up workshop of the Digital-Abo board: a later revision of the first example."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from connectors.dump import read_dump_file
from service.domain.contract_model import decode_metrics
from service.domain.digitize import digitize
from service.domain.recurring import Occurrence, group_problems
from service.domain.ruleset import Ruleset
from service.domain.trends import BoardRevision, RevisionStream, follow_streams, since_last_workshop

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def doc(name: str) -> dict[str, Any]:
    return digitize(read_dump_file(EXAMPLES / name))


def revision(number: int, document: dict[str, Any]) -> BoardRevision:
    return BoardRevision(
        number,
        f"r{number}",
        [
            RevisionStream(i, s["name"], s["state"], s["frame_id"], decode_metrics(s["metrics"]))
            for i, s in enumerate(document["streams"], 10 * number)
        ],
    )


def test_the_march_file_is_what_the_generator_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("make_examples", EXAMPLES / "make_examples.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "make_examples", module)
    spec.loader.exec_module(module)

    generated = json.dumps(module.miro_abo_workshop_march(), indent=2, ensure_ascii=False) + "\n"

    assert (EXAMPLES / "miro-abo-workshop-march.json").read_text(encoding="utf-8") == generated


def test_march_is_the_same_board_with_its_ist_frame_and_a_redrawn_soll_frame() -> None:
    november, march = doc("miro-abo-workshop.json"), doc("miro-abo-workshop-march.json")

    trends = follow_streams([revision(1, november), revision(2, march)], Ruleset())

    assert march["board"]["id"] == november["board"]["id"]
    assert [(t.name, [p.matched_by for p in t.points]) for t in trends] == [
        ("Ist-Zustand", ["first", "frame"]),
        ("Soll-Zustand", ["first", "title"]),
    ]
    delta = since_last_workshop(trends[0])
    assert delta is not None
    assert delta.lead_time_change_min == 463.0 - 1855.0
    assert delta.activity_ratio_change is not None
    assert delta.activity_ratio_change > 0
    assert march["unclassified"] == []


def test_march_has_the_spam_folder_problem_on_two_steps() -> None:
    stream = doc("miro-abo-workshop-march.json")["streams"][0]
    titles = {step["id"]: step["title"] for step in stream["steps"]}

    groups = group_problems(
        Occurrence(1, "Abo", 1, "s", stream["name"], p["step_id"], titles.get(p["step_id"]),
                   p["id"], p["text"], p["weight"])
        for p in stream["problems"]
    )  # fmt: skip

    assert [(g.title, g.total_votes, g.places) for g in groups] == [
        ("Bestätigungs-E-Mail landet immer noch im Spam-Ordner", 6, 2)
    ]
    assert [o.step_title for o in groups[0].occurrences] == [
        "Bestätigungs-E-Mail abwarten",
        "Erste Ausgabe lesen",
    ]
