"""Current state vs target state: which steps were kept, removed or added, and the time change.

Steps match by title similarity (``difflib.SequenceMatcher`` ratio of case-folded titles with
punctuation removed, at least ``ruleset.match_similarity``), best pairs first, one to one.
Identical titles always match. Times are minutes; ``*_change_pct`` is a percent of the current
value (negative = the target is faster); None when a side is unknown or the current value is 0.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from service.domain.metrics import stream_metrics
from service.domain.ruleset import Ruleset, StreamState
from service.domain.streams import Step, Stream, title_subject

# fuzzy matching compares every remaining current step with every remaining target step; above
# this many pairs only identical titles match (a workshop map has 5-30 steps, not thousands)
MAX_FUZZY_PAIRS = 40_000
# titles are compared on their first characters only, so one huge sticky cannot stall matching
_TITLE_LIMIT = 200
_NOT_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True, slots=True)
class KeptStep:
    current_step_id: str
    target_step_id: str
    current_title: str
    target_title: str
    similarity: float
    lead_time_change_min: float | None
    lead_time_change_pct: float | None
    process_time_change_min: float | None
    process_time_change_pct: float | None


@dataclass(frozen=True, slots=True)
class OnlyStep:
    """A step found on one side only (removed from current, or added in target)."""

    step_id: str
    title: str
    lead_time_min: float | None
    process_time_min: float | None


@dataclass(frozen=True, slots=True)
class Comparison:
    """Kept steps in current-stream order, removed in current order, added in target order.

    The totals compare the streams' critical-path totals (``metrics.stream_metrics``).
    ``exhaustive`` is False when the streams were too large for fuzzy matching and only
    identical titles were matched.
    """

    current_stream_id: str
    current_stream_name: str
    target_stream_id: str
    target_stream_name: str
    kept: tuple[KeptStep, ...]
    removed: tuple[OnlyStep, ...]
    added: tuple[OnlyStep, ...]
    lead_time_change_min: float | None
    lead_time_change_pct: float | None
    process_time_change_min: float | None
    process_time_change_pct: float | None
    exhaustive: bool = True


def normalized_title(title: str) -> str:
    return " ".join(_NOT_WORD.sub(" ", title.casefold()[: _TITLE_LIMIT * 2]).split())[:_TITLE_LIMIT]


def change(current: float | None, target: float | None) -> tuple[float | None, float | None]:
    """(target - current in minutes, that as a percent of current); None parts when unknown."""
    if current is None or target is None or not math.isfinite(current + target):
        return None, None
    delta = target - current
    return delta, (delta / current * 100 if current > 0 else None)


def _similarity(a: str, b: str) -> float:
    return 1.0 if a == b else SequenceMatcher(None, a, b, autojunk=False).ratio()


def match_titles(
    current: list[str], target: list[str], threshold: float
) -> tuple[dict[int, tuple[int, float]], bool]:
    """Current index -> (target index, similarity), one to one; and whether fuzzy ran.

    Identical titles pair first (in order); then the remaining pairs at or above ``threshold``
    pair greedily, most similar first, ties by current then target position.
    """
    matched: dict[int, tuple[int, float]] = {}
    waiting: dict[str, list[int]] = {}
    for index, title in enumerate(target):
        waiting.setdefault(title, []).append(index)
    for index, title in enumerate(current):
        if waiting.get(title):
            matched[index] = (waiting[title].pop(0), 1.0)
    taken = {pair[0] for pair in matched.values()}
    rest_current = [i for i in range(len(current)) if i not in matched]
    rest_target = [j for j in range(len(target)) if j not in taken]
    if len(rest_current) * len(rest_target) > MAX_FUZZY_PAIRS:
        return matched, False
    candidates: list[tuple[float, int, int]] = []
    for i in rest_current:
        matcher = SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(current[i])
        for j in rest_target:
            matcher.set_seq1(target[j])
            if matcher.real_quick_ratio() < threshold or matcher.quick_ratio() < threshold:
                continue
            ratio = matcher.ratio()
            if ratio >= threshold:
                candidates.append((-ratio, i, j))
    candidates.sort()
    used_target: set[int] = set()
    for negative, i, j in candidates:
        if i not in matched and j not in used_target:
            matched[i] = (j, -negative)
            used_target.add(j)
    return matched, True


def compare_streams(current: Stream, target: Stream, ruleset: Ruleset) -> Comparison:
    """Compare a current-state stream with a target-state stream step by step."""
    matched, exhaustive = match_titles(
        [normalized_title(step.title) for step in current.steps],
        [normalized_title(step.title) for step in target.steps],
        ruleset.match_similarity,
    )
    kept: list[KeptStep] = []
    for i, (j, similarity) in sorted(matched.items()):
        before, after = current.steps[i], target.steps[j]
        lead_min, lead_pct = change(before.lead_time_min, after.lead_time_min)
        process_min, process_pct = change(before.process_time_min, after.process_time_min)
        kept.append(
            KeptStep(
                current_step_id=before.id,
                target_step_id=after.id,
                current_title=before.title,
                target_title=after.title,
                similarity=similarity,
                lead_time_change_min=lead_min,
                lead_time_change_pct=lead_pct,
                process_time_change_min=process_min,
                process_time_change_pct=process_pct,
            )
        )
    taken = {j for j, _ in matched.values()}
    before_metrics, after_metrics = stream_metrics(current), stream_metrics(target)
    lead_min, lead_pct = change(
        before_metrics.total_lead_time_min, after_metrics.total_lead_time_min
    )
    process_min, process_pct = change(
        before_metrics.total_process_time_min, after_metrics.total_process_time_min
    )
    return Comparison(
        current_stream_id=current.id,
        current_stream_name=current.name,
        target_stream_id=target.id,
        target_stream_name=target.name,
        kept=tuple(kept),
        removed=tuple(_only(s) for i, s in enumerate(current.steps) if i not in matched),
        added=tuple(_only(s) for j, s in enumerate(target.steps) if j not in taken),
        lead_time_change_min=lead_min,
        lead_time_change_pct=lead_pct,
        process_time_change_min=process_min,
        process_time_change_pct=process_pct,
        exhaustive=exhaustive,
    )


def _only(step: Step) -> OnlyStep:
    return OnlyStep(step.id, step.title, step.lead_time_min, step.process_time_min)


def compare_board(streams: tuple[Stream, ...], ruleset: Ruleset) -> tuple[Comparison, ...]:
    """The comparisons a board calls for, in the order of their current streams.

    One current and one target stream: compare them. Several: pair current with target streams
    by the similarity of their titles without the state words (``Ist: Abo`` with ``Soll: Abo``),
    best first, one to one, at least ``ruleset.match_similarity``; unpaired streams are not
    compared. No current or no target stream: nothing to compare.
    """
    currents = [s for s in streams if s.state is StreamState.CURRENT]
    targets = [s for s in streams if s.state is StreamState.TARGET]
    if not currents or not targets:
        return ()
    if len(currents) == 1 and len(targets) == 1:
        return (compare_streams(currents[0], targets[0], ruleset),)
    matched, _ = match_titles(
        [title_subject(s.name, ruleset) for s in currents],
        [title_subject(s.name, ruleset) for s in targets],
        ruleset.match_similarity,
    )
    return tuple(
        compare_streams(currents[i], targets[j], ruleset) for i, (j, _) in sorted(matched.items())
    )
