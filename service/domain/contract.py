"""Streams, comparison and classification -> the output contract v1 (a JSON-ready dict).

The REST API serves exactly this document and ``vsm import --format json`` prints it; its JSON
Schema is ``schema/contract-v1.json``. Numbers are finite or null (never NaN or infinity): times
in minutes rounded to 2 decimals, percents (``*_pct``) to 1 decimal, fractions (``*ratio``,
``rolled_*``) to 4 decimals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from service.domain.account import account_of, account_to_dict
from service.domain.board import Board
from service.domain.board_warnings import board_warnings
from service.domain.classification import Classification, Unclassified
from service.domain.compare import Comparison, KeptStep, OnlyStep
from service.domain.metrics import Metrics, stream_metrics
from service.domain.ruleset import Role
from service.domain.streams import Idea, Problem, Step, Stream, unplaced

SCHEMA_VERSION = 1

Json = dict[str, Any]


def _round(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits) + 0.0  # + 0.0 turns -0.0 into 0.0


def _minutes(value: float | None) -> float | None:
    return _round(value, 2)


def _percent(value: float | None) -> float | None:
    return _round(value, 1)


def _fraction(value: float | None) -> float | None:
    return _round(value, 4)


def _step(step: Step) -> Json:
    return {
        "id": step.id,
        "order": step.order,
        "title": step.title,
        "lane": step.lane,
        "value_adding": step.value_adding,
        "process_time_min": _minutes(step.process_time_min),
        "lead_time_min": _minutes(step.lead_time_min),
        "wait_time_min": _minutes(step.wait_time_min),
        "complete_accurate_pct": _percent(step.complete_accurate_pct),
        "source_item_ids": list(step.source_item_ids),
        "problem_ids": list(step.problem_ids),
    }


def _problem(problem: Problem) -> Json:
    return {
        "id": problem.id,
        "text": problem.text,
        "step_id": problem.step_id,
        "weight": problem.weight,
        "source_item_ids": list(problem.source_item_ids),
    }


def _idea(idea: Idea) -> Json:
    return {
        "id": idea.id,
        "text": idea.text,
        "step_id": idea.step_id,
        "source_item_ids": list(idea.source_item_ids),
    }


def _metrics(metrics: Metrics) -> Json:
    return {
        "step_count": metrics.step_count,
        "value_adding_steps": metrics.value_adding_steps,
        "non_value_adding_steps": metrics.non_value_adding_steps,
        "total_process_time_min": _minutes(metrics.total_process_time_min),
        "total_lead_time_min": _minutes(metrics.total_lead_time_min),
        "activity_ratio": _fraction(metrics.activity_ratio),
        "rolled_complete_accurate": _fraction(metrics.rolled_complete_accurate),
        "handoffs": metrics.handoffs,
        "problem_count": metrics.problem_count,
        "problem_weight": metrics.problem_weight,
    }


def stream_to_dict(stream: Stream) -> Json:
    """One stream as contract v1 (with its metrics)."""
    return {
        "id": stream.id,
        "name": stream.name,
        "state": stream.state.value,
        "frame_id": stream.frame_id,
        "persona": stream.persona,
        "lanes": list(stream.lanes),
        "steps": [_step(step) for step in stream.steps],
        "problems": [_problem(problem) for problem in stream.problems],
        "ideas": [_idea(idea) for idea in stream.ideas],
        "metrics": _metrics(stream_metrics(stream)),
    }


def _kept(step: KeptStep) -> Json:
    return {
        "current_step_id": step.current_step_id,
        "target_step_id": step.target_step_id,
        "current_title": step.current_title,
        "target_title": step.target_title,
        "similarity": _fraction(step.similarity),
        "lead_time_change_min": _minutes(step.lead_time_change_min),
        "lead_time_change_pct": _percent(step.lead_time_change_pct),
        "process_time_change_min": _minutes(step.process_time_change_min),
        "process_time_change_pct": _percent(step.process_time_change_pct),
    }


def _only(step: OnlyStep, side: str) -> Json:
    return {
        f"{side}_step_id": step.step_id,
        f"{side}_title": step.title,
        "lead_time_min": _minutes(step.lead_time_min),
        "process_time_min": _minutes(step.process_time_min),
    }


def comparison_to_dict(comparison: Comparison) -> Json:
    """One current-vs-target pair as contract v1 (without ``other_pairs``)."""
    return {
        "current_stream_id": comparison.current_stream_id,
        "current_stream_name": comparison.current_stream_name,
        "target_stream_id": comparison.target_stream_id,
        "target_stream_name": comparison.target_stream_name,
        "kept": [_kept(step) for step in comparison.kept],
        "removed": [_only(step, "current") for step in comparison.removed],
        "added": [_only(step, "target") for step in comparison.added],
        "lead_time_change_min": _minutes(comparison.lead_time_change_min),
        "lead_time_change_pct": _percent(comparison.lead_time_change_pct),
        "process_time_change_min": _minutes(comparison.process_time_change_min),
        "process_time_change_pct": _percent(comparison.process_time_change_pct),
        "exhaustive": comparison.exhaustive,
    }


def _comparison(comparisons: Sequence[Comparison]) -> Json | None:
    if not comparisons:
        return None
    first, *others = comparisons
    return {**comparison_to_dict(first), "other_pairs": [comparison_to_dict(c) for c in others]}


def _unclassified(entries: Sequence[Unclassified]) -> list[Json]:
    seen: dict[str, Unclassified] = {}
    for entry in entries:
        seen.setdefault(entry.item_id, entry)
    return [
        {"item_id": entry.item_id, "text": entry.text, "reason": entry.reason}
        for entry in sorted(seen.values(), key=lambda entry: entry.item_id)
    ]


def _stats(board: Board) -> Json:
    stats = board.stats
    return {
        "items_read": stats.items_read,
        "items": len(board.items),
        "connectors": len(board.connectors),
        "unknown_types": {name: stats.unknown_types[name] for name in sorted(stats.unknown_types)},
        "unknown_fields": stats.unknown_fields,
        "truncated_texts": stats.truncated_texts,
        "skipped": [{"item_id": item_id, "reason": why} for item_id, why in stats.skipped],
        "repaired": [{"item_id": item_id, "repair": what} for item_id, what in stats.repaired],
    }


# a role's name in the document (``Role.value`` is a property lookup; this runs per decision)
_ROLE_VALUES: dict[Role | None, str | None] = {None: None, **{role: role.value for role in Role}}


def _decisions(classification: Classification, streams: Sequence[Stream]) -> list[Json]:
    """Every classification decision; an item placed by a layout rule (``Stream.placements``)
    gets that rule as ``placement``, and one without a decision (a lane band, a ladder rung)
    a decision of its own naming the rule. Sorted by item id."""
    placed: dict[str, tuple[str, str]] = {}
    for stream in streams:
        for item_id, rule, why in stream.placements:
            placed.setdefault(item_id, (rule, why))
    entries: list[Json] = []
    value = _ROLE_VALUES
    for decision in classification.decisions:
        entry: Json = {
            "item_id": decision.item_id,
            "role": value[decision.role],
            "rule": decision.rule,
            "why": decision.why,
        }
        placement = placed.pop(decision.item_id, None) if placed else None
        if placement is not None:
            entry["placement"] = {"rule": placement[0], "why": placement[1]}
        entries.append(entry)
    if placed:
        entries += [
            {"item_id": item_id, "role": None, "rule": rule, "why": why}
            for item_id, (rule, why) in placed.items()
        ]
        entries.sort(key=lambda entry: entry["item_id"])
    return entries


def to_contract(
    board: Board,
    classification: Classification,
    streams: Sequence[Stream],
    comparisons: Sequence[Comparison],
) -> Json:
    """The contract v1 document.

    ``comparison`` is the first pair of ``comparisons`` (null when empty) with the others in its
    ``other_pairs``. ``unclassified`` joins the classifier's leftovers with the items that got a
    role but no place in a stream (``streams.unplaced``), one entry per item, sorted by id.
    ``warnings`` says what the reader could not make sense of (``board_warnings``).
    """
    leftovers = unplaced(board, classification, streams)
    return {
        "schema_version": SCHEMA_VERSION,
        "board": {"provider": board.provider, "id": board.id, "name": board.name},
        "streams": [stream_to_dict(stream) for stream in streams],
        "comparison": _comparison(comparisons),
        "unclassified": _unclassified([*classification.unclassified, *leftovers]),
        "decisions": _decisions(classification, streams),
        "stats": _stats(board),
        "account": account_to_dict(account_of(board, classification, leftovers)),
        "warnings": [
            {
                "code": warning.code,
                "message": warning.message,
                "item_ids": list(warning.item_ids),
                "fix": warning.fix,
            }
            for warning in board_warnings(board, classification, streams)
        ],
    }
