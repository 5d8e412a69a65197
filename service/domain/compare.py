"""Current state vs target state: which steps were kept, removed or added, and the time change.

Steps match by title similarity, at least ``ruleset.match_similarity``: the Indel similarity of
case-folded titles with punctuation removed, 2 * longest common subsequence / both lengths (the
ratio of python-Levenshtein and of rapidfuzz's ``fuzz.ratio``, here 0-1), best pairs first, one
to one.
Identical titles always match. Times are minutes; ``*_change_pct`` is a percent of the current
value (negative = the target is faster); None when a side is unknown or the current value is 0.
"""

from __future__ import annotations

import math
import re
from collections import deque

from msgspec import Struct
from rapidfuzz import process
from rapidfuzz.distance import Indel

from service.domain.metrics import stream_metrics
from service.domain.record import Record
from service.domain.ruleset import Ruleset, StreamState
from service.domain.streams import Step, Stream, title_subject

# fuzzy matching may compare every remaining current step with every remaining target step; one
# board may spend this many pairs in all, beyond that only identical titles match (a workshop map
# has 5-60 steps per stream, so a real board never gets near it)
MAX_FUZZY_PAIRS = 40_000
# titles are compared on their first characters only, so one huge sticky cannot stall matching
_TITLE_LIMIT = 200
_NOT_WORD = re.compile(r"[\W_]+")


class KeptStep(Record, frozen=True):
    current_step_id: str
    target_step_id: str
    current_title: str
    target_title: str
    similarity: float
    lead_time_change_min: float | None
    lead_time_change_pct: float | None
    process_time_change_min: float | None
    process_time_change_pct: float | None


class OnlyStep(Record, frozen=True):
    """A step found on one side only (removed from current, or added in target)."""

    step_id: str
    title: str
    lead_time_min: float | None
    process_time_min: float | None


class Comparison(Struct, frozen=True):
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


def match_titles(
    current: list[str], target: list[str], threshold: float, max_pairs: int = MAX_FUZZY_PAIRS
) -> tuple[dict[int, tuple[int, float]], bool]:
    """Current index -> (target index, similarity), one to one; and whether fuzzy ran.

    Identical titles pair first (in order); then the remaining pairs at or above ``threshold``
    pair greedily, most similar first, ties by current then target position. Fuzzy matching
    runs only when the remaining pairs are at most ``max_pairs``.
    """
    matched, exhaustive, _ = _match(current, target, threshold, max_pairs)
    return matched, exhaustive


def _match(
    current: list[str], target: list[str], threshold: float, max_pairs: int
) -> tuple[dict[int, tuple[int, float]], bool, int]:
    """``match_titles`` plus the number of pairs fuzzy matching was allowed to consider."""
    matched: dict[int, tuple[int, float]] = {}
    waiting: dict[str, deque[int]] = {}
    for index, title in enumerate(target):
        waiting.setdefault(title, deque()).append(index)
    for index, title in enumerate(current):
        if waiting.get(title):
            matched[index] = (waiting[title].popleft(), 1.0)
    taken = {pair[0] for pair in matched.values()}
    rest_current = [i for i in range(len(current)) if i not in matched]
    rest_target = [j for j in range(len(target)) if j not in taken]
    pairs = len(rest_current) * len(rest_target)
    if pairs > max_pairs:
        return matched, False, 0
    if pairs:
        _match_fuzzy(current, target, threshold, rest_current, rest_target, matched)
    return matched, True, pairs


def _match_fuzzy(
    current: list[str],
    target: list[str],
    threshold: float,
    rest_current: list[int],
    rest_target: list[int],
    matched: dict[int, tuple[int, float]],
) -> None:
    """Greedy best-first matching of the remaining titles, into ``matched``.

    Every remaining pair's similarity (rapidfuzz gives one title's Indel distance to all the
    others, in C; the ratio is worked out from those whole numbers, so a score on the threshold
    is exactly on it), the pairs at or above ``threshold`` sorted most similar first, ties by
    current then target position, and taken one to one.
    """
    choices = [target[j] for j in rest_target]
    lengths = [len(title) for title in choices]
    longest = max(lengths)
    candidates: list[tuple[float, int, int]] = []
    for i in rest_current:
        title = current[i]
        size = len(title)
        # no pair further apart can reach the threshold (a generous bound: exact test below)
        limit = math.floor((size + longest) * (1 - threshold) + 1e-9)
        for _, distance, k in process.extract(
            title, choices, scorer=Indel.distance, score_cutoff=limit, limit=None
        ):
            total = size + lengths[k]
            score = (total - distance) / total if total else 1.0
            if score >= threshold:
                candidates.append((-score, i, rest_target[k]))
    candidates.sort()
    used: set[int] = set()
    for negative, i, j in candidates:
        if i not in matched and j not in used:
            matched[i] = (j, -negative)
            used.add(j)


def compare_streams(
    current: Stream, target: Stream, ruleset: Ruleset, max_pairs: int = MAX_FUZZY_PAIRS
) -> Comparison:
    """Compare a current-state stream with a target-state stream step by step.

    Fuzzy title matching may consider at most ``max_pairs`` step pairs (see ``match_titles``).
    """
    return _compare(current, target, ruleset, max_pairs)[0]


def _compare(
    current: Stream, target: Stream, ruleset: Ruleset, max_pairs: int
) -> tuple[Comparison, int]:
    """``compare_streams`` plus the number of step pairs fuzzy matching considered."""
    matched, exhaustive, pairs = _match(
        [normalized_title(step.title) for step in current.steps],
        [normalized_title(step.title) for step in target.steps],
        ruleset.match_similarity,
        max_pairs,
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
    comparison = Comparison(
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
    return comparison, pairs


def _only(step: Step) -> OnlyStep:
    return OnlyStep(step.id, step.title, step.lead_time_min, step.process_time_min)


def pair_streams(currents: list[str], targets: list[str], ruleset: Ruleset) -> dict[int, int]:
    """Current stream index -> target stream index, given the streams' names (in board order).

    One current and one target stream pair whatever their names; several pair by the similarity
    of their titles without the state words (``title_subject``), best first, one to one, at
    least ``ruleset.match_similarity``. No current or no target stream: no pairs.
    """
    if not currents or not targets:
        return {}
    if len(currents) == 1 and len(targets) == 1:
        return {0: 0}
    matched, _ = match_titles(
        [title_subject(name, ruleset) for name in currents],
        [title_subject(name, ruleset) for name in targets],
        ruleset.match_similarity,
    )
    return {i: j for i, (j, _) in matched.items()}


def compare_board(streams: tuple[Stream, ...], ruleset: Ruleset) -> tuple[Comparison, ...]:
    """The comparisons a board calls for, in the order of their current streams.

    One current and one target stream: compare them. Several: pair current with target streams
    by the similarity of their titles without the state words (``Ist: Abo`` with ``Soll: Abo``),
    best first, one to one, at least ``ruleset.match_similarity``; unpaired streams are not
    compared. No current or no target stream: nothing to compare. The board's comparisons share
    one budget of ``MAX_FUZZY_PAIRS`` step pairs for fuzzy matching, spent in that order; a
    comparison that no longer fits matches identical titles only (``exhaustive`` False).
    """
    currents = [s for s in streams if s.state is StreamState.CURRENT]
    targets = [s for s in streams if s.state is StreamState.TARGET]
    if len(currents) == 1 and len(targets) == 1:
        return (compare_streams(currents[0], targets[0], ruleset),)
    pairs = pair_streams([s.name for s in currents], [s.name for s in targets], ruleset)
    budget = MAX_FUZZY_PAIRS
    comparisons: list[Comparison] = []
    for i, j in sorted(pairs.items()):
        comparison, spent = _compare(currents[i], targets[j], ruleset, budget)
        budget -= spent
        comparisons.append(comparison)
    return tuple(comparisons)
