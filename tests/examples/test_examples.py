"""The example boards digitize to what the facilitators put on them.

These are the regression net for the whole pipeline (normalize, classify, streams, metrics,
compare): every expectation is read off the board as a facilitator would read it, not off the
current output. See examples/README.md for what each board shows.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from connectors.dump import read_dump_file
from service.domain.digitize import digitize

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

Doc = dict[str, Any]


@cache
def _doc(name: str) -> Doc:
    return digitize(read_dump_file(EXAMPLES / name))


def _stream(doc: Doc, name: str) -> Doc:
    return next(stream for stream in doc["streams"] if stream["name"] == name)


def _steps_by_title(stream: Doc) -> dict[str, Doc]:
    return {step["title"]: step for step in stream["steps"]}


def _placements(stream: Doc, kind: str) -> dict[str, str | None]:
    """Problem or idea text -> title of the step it hangs on (None: the whole stream)."""
    titles = {step["id"]: step["title"] for step in stream["steps"]}
    return {entry["text"]: titles.get(entry["step_id"]) for entry in stream[kind]}


MIRO = "miro-abo-workshop.json"

IST = [
    "Artikel entdecken",
    "Paywall sehen",
    "Abo-Angebot vergleichen",
    "Registrieren",
    "Zahlungsdaten eingeben",
    "Bestätigungs-E-Mail abwarten",
    "Konto aktivieren",
    "Erste Ausgabe lesen",
]
SOLL = [
    "Artikel entdecken",
    "Paywall sehen",
    "Abo-Angebot vergleichen",
    "Mit Apple Pay oder Google Pay bezahlen",
    "Erste Ausgabe lesen",
]


def test_miro_board_has_the_ist_and_soll_frames_as_streams_and_no_legend_stream() -> None:
    doc = _doc(MIRO)

    assert doc["board"]["provider"] == "miro"
    assert [(s["name"], s["state"]) for s in doc["streams"]] == [
        ("Ist-Zustand", "current"),
        ("Soll-Zustand", "target"),
    ]


@pytest.mark.parametrize(("name", "titles"), [("Ist-Zustand", IST), ("Soll-Zustand", SOLL)])
def test_miro_steps_come_in_flow_order_one_per_number(name: str, titles: list[str]) -> None:
    stream = _stream(_doc(MIRO), name)

    assert [(step["order"], step["title"]) for step in stream["steps"]] == list(
        enumerate(titles, start=1)
    )


def test_miro_persona_outside_the_frames_belongs_to_both_streams() -> None:
    doc = _doc(MIRO)

    assert [s["persona"] for s in doc["streams"]] == ["Lena, 34, liest täglich mobil"] * 2


def test_miro_legend_stickies_never_become_steps() -> None:
    doc = _doc(MIRO)

    all_titles = {step["title"] for s in doc["streams"] for step in s["steps"]}
    assert not all_titles & {"Prozessschritt", "Problem", "Idee", "Daten", "Wartezeit", "Persona"}
    legend_roles = [d for d in doc["decisions"] if d["role"] == "legend"]
    assert len(legend_roles) == 6


def test_miro_orange_sticky_is_the_one_wait_step() -> None:
    stream = _stream(_doc(MIRO), "Ist-Zustand")

    not_value_adding = [step["title"] for step in stream["steps"] if not step["value_adding"]]
    assert not_value_adding == ["Bestätigungs-E-Mail abwarten"]


@pytest.mark.parametrize(
    ("title", "process", "lead", "wait", "ca"),
    [
        ("Artikel entdecken", 3.0, 60.0, 57.0, 95.0),
        ("Abo-Angebot vergleichen", 15.0, 960.0, 945.0, 70.0),  # "DLZ: 2 T" = 2 x 8 h
        ("Zahlungsdaten eingeben", 6.5, 60.0, 53.5, 80.0),  # "BZ: 6,5 min"
        ("Bestätigungs-E-Mail abwarten", None, 240.0, 240.0, None),  # "WZ: 2-6 Std"
        ("Konto aktivieren", 2.0, 480.0, 478.0, 85.0),  # times on the step sticky itself
    ],
)
def test_miro_data_stickies_give_their_step_the_times(
    title: str, process: float | None, lead: float, wait: float, ca: float | None
) -> None:
    step = _steps_by_title(_stream(_doc(MIRO), "Ist-Zustand"))[title]

    assert (
        step["process_time_min"],
        step["lead_time_min"],
        step["wait_time_min"],
        step["complete_accurate_pct"],
    ) == (process, lead, wait, ca)


def test_miro_problems_hang_on_their_steps_with_their_votes_highest_first() -> None:
    stream = _stream(_doc(MIRO), "Ist-Zustand")
    titles = {step["id"]: step["title"] for step in stream["steps"]}

    found = [(p["weight"], p["text"], titles.get(p["step_id"])) for p in stream["problems"]]

    assert sorted(found, key=lambda f: (-f[0], f[1])) == sorted(
        [
            (5, "Bestätigungs-E-Mail landet oft im Spam-Ordner", "Bestätigungs-E-Mail abwarten"),
            (
                4,
                "Paywall verdeckt den Artikel, Preis erst nach zwei Klicks sichtbar",
                "Paywall sehen",
            ),
            # "(3)" at the end of the text counts three votes
            (3, "Zahlungsseite lädt langsam, Abbrüche bei PayPal", "Zahlungsdaten eingeben"),
            # a yellow sticky tagged "Problem"
            (2, "Passwortregeln erst nach dem Absenden sichtbar", "Registrieren"),
            # "●●" counts two votes
            (2, "App zeigt nach dem Login wieder die Paywall", "Erste Ausgabe lesen"),
            (1, "Sieben Abo-Varianten, Unterschiede unklar", "Abo-Angebot vergleichen"),
        ],
        key=lambda f: (-f[0], f[1]),
    )
    weights = [p["weight"] for p in stream["problems"]]
    assert weights == sorted(weights, reverse=True)


def test_miro_steps_list_the_problems_attached_to_them() -> None:
    stream = _stream(_doc(MIRO), "Ist-Zustand")

    for step in stream["steps"]:
        attached = [p["id"] for p in stream["problems"] if p["step_id"] == step["id"]]
        assert sorted(step["problem_ids"]) == sorted(attached)


def test_miro_ideas_hang_on_the_nearest_or_connected_step_or_the_stream() -> None:
    stream = _stream(_doc(MIRO), "Ist-Zustand")

    assert _placements(stream, "ideas") == {
        "Personalisierte Empfehlungen im Newsletter": "Artikel entdecken",
        # connected by a connector although it sits above another step
        "Apple Pay und Google Pay anbieten": "Zahlungsdaten eingeben",
        # a light-yellow sticky made an idea by its "Idee:" marker
        "Magic Link statt Passwort": "Konto aktivieren",
        "Ein Abo für Web, App und E-Paper": None,
    }


def test_miro_metrics_add_up_along_the_flow() -> None:
    metrics = _stream(_doc(MIRO), "Ist-Zustand")["metrics"]

    ca = [95, 60, 70, 75, 80, 85, 90]
    assert metrics["step_count"] == 8
    assert metrics["value_adding_steps"] == 7
    assert metrics["non_value_adding_steps"] == 1
    assert metrics["total_process_time_min"] == pytest.approx(55.5)
    assert metrics["total_lead_time_min"] == pytest.approx(1855.0)
    assert metrics["activity_ratio"] == pytest.approx(55.5 / 1855.0, abs=1e-3)
    assert metrics["rolled_complete_accurate"] == pytest.approx(
        math.prod(c / 100 for c in ca), abs=1e-3
    )
    assert metrics["handoffs"] == 0
    assert (metrics["problem_count"], metrics["problem_weight"]) == (6, 17)


def test_miro_comparison_keeps_removes_and_adds_the_right_steps() -> None:
    comparison = _doc(MIRO)["comparison"]

    assert comparison is not None
    assert (comparison["current_stream_name"], comparison["target_stream_name"]) == (
        "Ist-Zustand",
        "Soll-Zustand",
    )
    assert [k["current_title"] for k in comparison["kept"]] == [
        "Artikel entdecken",
        "Paywall sehen",
        "Abo-Angebot vergleichen",
        "Erste Ausgabe lesen",
    ]
    assert [r["current_title"] for r in comparison["removed"]] == [
        "Registrieren",
        "Zahlungsdaten eingeben",
        "Bestätigungs-E-Mail abwarten",
        "Konto aktivieren",
    ]
    assert [a["target_title"] for a in comparison["added"]] == [
        "Mit Apple Pay oder Google Pay bezahlen"
    ]
    assert comparison["lead_time_change_min"] == pytest.approx(114.0 - 1855.0)


def test_miro_board_leaves_nothing_unclassified() -> None:
    assert _doc(MIRO)["unclassified"] == []


MURAL = "mural-app-release.json"
LANES = ["Growth", "Design", "Development", "Test"]


def _flow(stream: Doc) -> list[tuple[int, frozenset[tuple[str, str | None]]]]:
    """The steps grouped by order number: [(order, {(title, lane), ...}), ...]."""
    orders: dict[int, set[tuple[str, str | None]]] = {}
    for step in stream["steps"]:
        orders.setdefault(step["order"], set()).add((step["title"], step["lane"]))
    return [(order, frozenset(steps)) for order, steps in sorted(orders.items())]


def test_mural_board_has_the_current_and_target_areas_as_streams_with_swimlanes() -> None:
    doc = _doc(MURAL)

    assert doc["board"] == {
        "provider": "mural",
        "id": "acme7380.1754493659737",
        "name": "App release value stream – workshop",  # noqa: RUF001
    }
    assert [(s["name"], s["state"], s["lanes"]) for s in doc["streams"]] == [
        ("Current state", "current", LANES),
        ("Target state", "target", LANES),
    ]


def test_mural_current_flow_follows_the_arrows_and_the_parallel_branch_shares_a_number() -> None:
    stream = _stream(_doc(MURAL), "Current state")

    assert _flow(stream) == [
        (1, frozenset({("Collect user insights", "Growth")})),
        (2, frozenset({("Write feature brief", "Growth")})),
        (3, frozenset({("Create mockups", "Design")})),
        (4, frozenset({("Wait for design review", "Design")})),
        (5, frozenset({("Implement feature", "Development")})),
        (6, frozenset({("Write UI tests", "Test"), ("Update API docs", "Development")})),
        (7, frozenset({("Release review", "Test")})),
        (8, frozenset({("Publish to app stores", "Development")})),
    ]


def test_mural_target_flow_has_its_own_parallel_branch() -> None:
    stream = _stream(_doc(MURAL), "Target state")

    assert _flow(stream) == [
        (1, frozenset({("Collect user insights", "Growth")})),
        (2, frozenset({("Co-design feature with developers", "Design")})),
        (3, frozenset({("Implement feature", "Development")})),
        (4, frozenset({("Automated regression run", "Test"), ("Update API docs", "Development")})),
        (5, frozenset({("Publish to app stores", "Development")})),
    ]


def test_mural_orange_sticky_and_nva_tag_mark_the_non_value_adding_steps() -> None:
    stream = _stream(_doc(MURAL), "Current state")

    assert {s["title"] for s in stream["steps"] if not s["value_adding"]} == {
        "Wait for design review",
        "Release review",
    }


@pytest.mark.parametrize(
    ("title", "process", "lead", "ca"),
    [
        ("Collect user insights", 240.0, 1440.0, 80.0),  # "PT 4h / LT 3d / %C&A 80%"
        ("Create mockups", 960.0, 2400.0, 70.0),  # "LT 1 week" = 5 days of 8 h
        ("Write UI tests", 720.0, 1440.0, 90.0),  # "PT 1.5d"
        ("Wait for design review", None, 2400.0, None),  # "WT 3-7 d / LT 5d"
    ],
)
def test_mural_data_stickies_give_their_step_the_times(
    title: str, process: float | None, lead: float, ca: float | None
) -> None:
    step = _steps_by_title(_stream(_doc(MURAL), "Current state"))[title]

    assert (step["process_time_min"], step["lead_time_min"], step["complete_accurate_pct"]) == (
        process,
        lead,
        ca,
    )


def test_mural_problems_hang_on_their_steps_with_their_votes() -> None:
    stream = _stream(_doc(MURAL), "Current state")
    titles = {step["id"]: step["title"] for step in stream["steps"]}

    found = {p["text"]: (titles.get(p["step_id"]), p["weight"]) for p in stream["problems"]}

    assert found == {
        "Design review only every second Thursday": ("Wait for design review", 5),
        "Flaky UI tests block the pipeline": ("Write UI tests", 4),
        "Brief changes after design has started": ("Write feature brief", 3),
        "Insights arrive as slide decks nobody reads": ("Collect user insights", 2),
        # "(2)" at the end counts two votes
        "Release review waits for three sign-offs": ("Release review", 2),
        # far from every step; the arrow says where it belongs
        "App store rejects builds with a missing privacy label": ("Publish to app stores", 1),
    }
    weights = [p["weight"] for p in stream["problems"]]
    assert weights == sorted(weights, reverse=True)


def test_mural_ideas_hang_on_steps_by_distance_or_arrow_else_on_the_stream() -> None:
    doc = _doc(MURAL)

    assert _placements(_stream(doc, "Current state"), "ideas") == {
        "Pair designer and developer on day one": "Implement feature",
        "Run UI tests on every pull request": "Write UI tests",
        "shared backlog for Growth and Design": None,
    }
    # inside the nested "Parking lot" area, which lies in the target state
    assert _placements(_stream(doc, "Target state"), "ideas") == {
        "Feature flags for staged rollouts": None
    }


def test_mural_metrics_follow_the_critical_path_and_count_lane_changes() -> None:
    doc = _doc(MURAL)
    current = _stream(doc, "Current state")["metrics"]
    target = _stream(doc, "Target state")["metrics"]

    # of the parallel pair, "Write UI tests" (LT 3 d) is on the critical path
    assert current["total_lead_time_min"] == pytest.approx(15840.0)
    assert current["total_process_time_min"] == pytest.approx(4860.0)
    # arrows crossing lanes: brief->mockups, wait->implement, implement->UI tests,
    # API docs->release review, release review->publish
    assert current["handoffs"] == 5
    assert (current["problem_count"], current["problem_weight"]) == (6, 17)
    assert target["total_lead_time_min"] == pytest.approx(4800.0)
    assert target["handoffs"] == 4


def test_mural_comparison_matches_steps_by_title() -> None:
    comparison = _doc(MURAL)["comparison"]

    assert comparison is not None
    assert {k["current_title"] for k in comparison["kept"]} == {
        "Collect user insights",
        "Implement feature",
        "Update API docs",
        "Publish to app stores",
    }
    assert {r["current_title"] for r in comparison["removed"]} == {
        "Write feature brief",
        "Create mockups",
        "Wait for design review",
        "Write UI tests",
        "Release review",
    }
    assert {a["target_title"] for a in comparison["added"]} == {
        "Co-design feature with developers",
        "Automated regression run",
    }
    assert comparison["lead_time_change_min"] == pytest.approx(4800.0 - 15840.0)


def test_mural_persona_outside_the_areas_belongs_to_both_streams() -> None:
    doc = _doc(MURAL)

    assert {s["persona"] for s in doc["streams"]} == {
        "Mia, 29, commutes daily and buys her tickets in the app"
    }
    assert doc["unclassified"] == []


TEMPLATE = "miro-vsm-template.json"


def test_template_board_reads_process_boxes_inventories_and_kaizen_bursts() -> None:
    doc = _doc(TEMPLATE)

    assert [(s["name"], s["state"]) for s in doc["streams"]] == [
        ("Current State Map", "current"),
        ("Future State Map", "target"),
    ]
    current = _stream(doc, "Current State Map")
    assert [
        (s["order"], s["title"], s["process_time_min"], s["wait_time_min"])
        for s in current["steps"]
    ] == [
        (1, "Zuschnitt", 0.75, None),
        (2, "Kanten", 1.03, 5 * 480),  # 62 s, rounded to 2 decimals
        (3, "Schweißen", 2, 2 * 480),
        (4, "Pulverbeschichten", 5, 3 * 480),
    ]
    assert _placements(current, "ideas") == {
        "Rüstzeit Kanten halbieren": "Kanten",
        "Puffer vor Pulver abbauen": "Pulverbeschichten",
    }
    # 10 days of inventory plus the process times after the first box (its lead time is unknown)
    assert current["metrics"]["total_lead_time_min"] == 4808.03
    future = _stream(doc, "Future State Map")
    assert [s["wait_time_min"] for s in future["steps"]] == [None, 480, 240]
    # the agenda's yellow stickies are no steps, and the board says so
    assert [w["code"] for w in doc["warnings"]] == ["skipped-frame"]
    assert doc["unclassified"] == []


@pytest.mark.parametrize(
    ("name", "builder"),
    [
        (MIRO, "miro_abo_workshop"),
        (MURAL, "mural_app_release"),
        (TEMPLATE, "miro_vsm_template"),
    ],
)
def test_committed_examples_are_what_the_generator_writes(
    name: str, builder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("make_examples", EXAMPLES / "make_examples.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the module runs
    monkeypatch.setitem(sys.modules, "make_examples", module)
    spec.loader.exec_module(module)

    generated = json.dumps(getattr(module, builder)(), indent=2, ensure_ascii=False) + "\n"

    assert (EXAMPLES / name).read_text(encoding="utf-8") == generated


def test_the_examples_warn_only_where_something_was_left_out() -> None:
    assert _doc(MIRO)["warnings"] == []
    (warning,) = _doc(MURAL)["warnings"]
    assert warning["code"] == "skipped-frame"
    assert warning["message"] == "The area 'Parking lot' holds no flow: it is no value stream."
