"""Contract v1 dicts built by hand, so the renderers are tested without the digitizer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.domain.contract_model import decode_contract, decode_stream
from service.domain.render.html import render_report_html
from service.domain.render.svg import render_stream_svg

Json = dict[str, Any]


def step(
    step_id: str,
    order: int,
    title: str,
    *,
    lane: str | None = None,
    value_adding: bool = True,
    process: float | None = None,
    lead: float | None = None,
    wait: float | None = None,
    ca: float | None = None,
    problem_ids: Sequence[str] = (),
) -> Json:
    return {
        "id": step_id,
        "order": order,
        "title": title,
        "lane": lane,
        "value_adding": value_adding,
        "process_time_min": process,
        "lead_time_min": lead,
        "wait_time_min": wait,
        "complete_accurate_pct": ca,
        "source_item_ids": [f"item-{step_id}"],
        "problem_ids": list(problem_ids),
    }


def problem(problem_id: str, text: str, step_id: str | None, weight: float) -> Json:
    return {
        "id": problem_id,
        "text": text,
        "step_id": step_id,
        "weight": weight,
        "source_item_ids": [f"item-{problem_id}"],
    }


def stream(
    steps: Sequence[Json],
    *,
    stream_id: str = "s1",
    name: str = "Ist-Zustand",
    state: str = "current",
    lanes: Sequence[str] = (),
    problems: Sequence[Json] = (),
    ideas: Sequence[Json] = (),
    metrics: Json | None = None,
) -> Json:
    ranked = sorted(problems, key=lambda p: -p["weight"])
    by_step: dict[str, list[str]] = {}
    for p in ranked:
        if p["step_id"] is not None:
            by_step.setdefault(p["step_id"], []).append(p["id"])
    full_steps = [{**s, "problem_ids": by_step.get(s["id"], s["problem_ids"])} for s in steps]
    return {
        "id": stream_id,
        "name": name,
        "state": state,
        "frame_id": f"frame-{stream_id}",
        "persona": None,
        "lanes": list(lanes),
        "steps": full_steps,
        "problems": ranked,
        "ideas": list(ideas),
        "metrics": metrics
        if metrics is not None
        else {
            "step_count": len(steps),
            "value_adding_steps": sum(1 for s in steps if s["value_adding"]),
            "non_value_adding_steps": sum(1 for s in steps if not s["value_adding"]),
            "total_process_time_min": None,
            "total_lead_time_min": None,
            "activity_ratio": None,
            "rolled_complete_accurate": None,
            "handoffs": 0,
            "problem_count": len(problems),
            "problem_weight": sum(p["weight"] for p in problems),
        },
    }


def abo_stream() -> Json:
    """A German current-state stream: two lanes, a parallel pair, an NVA step, ranked problems."""
    steps = [
        step("st1", 1, "Kunde wählt Abo 📰", lane="Kunde", process=5, lead=10, ca=90),
        step("st2", 2, "Zahlungsdaten prüfen", lane="Backoffice", process=15, lead=480),
        step("st3", 2, "Adresse validieren", lane="Backoffice", process=10, lead=120),
        step(
            "st4",
            3,
            "Warten auf Freigabe durch Teamleitung",
            lane="Backoffice",
            value_adding=False,
            lead=1440,
        ),
        step("st5", 4, "Zugang freischalten", lane="Kunde", process=2, lead=None),
    ]
    problems = [
        problem("p1", "Medienbruch: Daten werden abgetippt", "st2", 5),
        problem("p2", "Freigabe dauert Tage", "st4", 3),
        problem("p3", "Keine Übersicht über offene Aufträge", None, 1),
    ]
    metrics = {
        "step_count": 5,
        "value_adding_steps": 4,
        "non_value_adding_steps": 1,
        "total_process_time_min": 22,
        "total_lead_time_min": 1930,
        "activity_ratio": 0.0114,
        "rolled_complete_accurate": 0.9,
        "handoffs": 2,
        "problem_count": 3,
        "problem_weight": 9,
    }
    return stream(steps, lanes=["Kunde", "Backoffice"], problems=problems, metrics=metrics)


def linear_stream(count: int, *, stream_id: str = "lin") -> Json:
    return stream(
        [
            step(f"{stream_id}-{i}", i, f"Schritt {i}", process=10 * i, lead=60 * i)
            for i in range(1, count + 1)
        ],
        stream_id=stream_id,
        name=f"{count} steps",
        state="unspecified",
    )


def document(streams: Sequence[Json], *, comparison: Json | None = None) -> Json:
    return {
        "schema_version": 1,
        "board": {"provider": "miro", "id": "uXjVabc=", "name": "Abo-Workshop"},
        "streams": list(streams),
        "comparison": comparison,
        "unclassified": [
            {"item_id": "i9", "text": "Kaffee holen ☕", "reason": "no rule matched a gray shape"}
        ],
        "decisions": [],
    }


def svg_of(data: Json, *, title: str | None = None) -> str:
    """The map of a stream dict, decoded as the shells decode it."""
    return render_stream_svg(decode_stream(data), title=title)


def page_of(doc: Json, **kwargs: Any) -> str:
    """The report page of a document dict, decoded as the shells decode it."""
    return render_report_html(decode_contract(doc), **kwargs)
