"""Trends: each value stream of a board followed across its revisions, and what changed since
the last workshop.

A stream is followed from one revision to the next by its frame: a stream in the same frame
(Miro frame, Mural area; the contract's ``frame_id``) is the same stream. A stream whose frame is
new (the team drew a fresh frame for the new map) is matched by its title instead: the title
matching the current-vs-target comparison uses (``compare.match_titles`` on the titles without
their state words, ``streams.title_subject``, at least ``ruleset.match_similarity``), between
streams of the same state. A stream that matches nothing starts a trend of its own. Matching is
against the last point of every trend seen so far, so a stream missing from one revision is
picked up again when it returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from service.domain.compare import change, match_titles
from service.domain.contract_model import ContractMetrics
from service.domain.ruleset import Ruleset
from service.domain.streams import title_subject

# a trend chart and its JSON cover at most this many revisions (the newest) and streams
MAX_REVISIONS = 100
MAX_STREAMS_PER_REVISION = 50

MatchedBy = Literal["first", "frame", "title"]


@dataclass(frozen=True, slots=True)
class RevisionStream:
    """One stream as stored in one revision, with the figures of its contract metrics."""

    stream_id: int
    name: str
    state: str
    frame_id: str | None
    figures: ContractMetrics


@dataclass(frozen=True, slots=True)
class BoardRevision:
    number: int
    created_at: str  # ISO 8601, shown as given
    streams: Sequence[RevisionStream]


@dataclass(frozen=True, slots=True)
class TrendPoint:
    revision: int
    created_at: str
    stream_id: int
    name: str
    matched_by: MatchedBy
    figures: ContractMetrics


@dataclass(frozen=True, slots=True)
class Delta:
    """The latest point against the one before it whose figures differ (the last workshop).

    Changes are latest minus before: minutes and percent of before for the times, fraction
    points for the ratios, whole numbers for the counts.
    """

    since_revision: int
    since_created_at: str
    lead_time_change_min: float | None
    lead_time_change_pct: float | None
    process_time_change_min: float | None
    process_time_change_pct: float | None
    activity_ratio_change: float | None
    rolled_complete_accurate_change: float | None
    handoffs_change: int | None
    problem_weight_change: int | None


@dataclass(frozen=True, slots=True)
class Trend:
    """One stream across revisions, oldest point first; named after its latest point."""

    name: str
    state: str
    points: tuple[TrendPoint, ...]

    @property
    def latest(self) -> TrendPoint:
        return self.points[-1]


def follow_streams(revisions: Sequence[BoardRevision], ruleset: Ruleset) -> list[Trend]:
    """The trends of a board's revisions (any order in, oldest first inside).

    Only the newest ``MAX_REVISIONS`` revisions and the first ``MAX_STREAMS_PER_REVISION``
    streams of each count. Trends come in the order their latest stream has on the board, trends
    whose stream left the board after them, by the revision they were last seen in (newest
    first).
    """
    ordered = sorted(revisions, key=lambda revision: revision.number)[-MAX_REVISIONS:]
    threads: list[list[TrendPoint]] = []
    states: list[str] = []
    frames: list[str | None] = []
    for revision in ordered:
        streams = list(revision.streams[:MAX_STREAMS_PER_REVISION])
        assigned: dict[int, tuple[int, MatchedBy]] = {}
        free = set(range(len(threads)))
        by_frame = {frames[t]: t for t in free if frames[t] is not None}
        for index, stream in enumerate(streams):
            thread = by_frame.get(stream.frame_id) if stream.frame_id is not None else None
            if thread is not None and thread in free and states[thread] == stream.state:
                assigned[index] = (thread, "frame")
                free.discard(thread)
        for state in dict.fromkeys(s.state for s in streams):
            waiting = [i for i, s in enumerate(streams) if i not in assigned and s.state == state]
            open_threads = sorted(t for t in free if states[t] == state)
            if not waiting or not open_threads:
                continue
            matched, _ = match_titles(
                [title_subject(streams[i].name, ruleset) for i in waiting],
                [title_subject(threads[t][-1].name, ruleset) for t in open_threads],
                ruleset.match_similarity,
            )
            for i, (t, _) in matched.items():
                assigned[waiting[i]] = (open_threads[t], "title")
                free.discard(open_threads[t])
        for index, stream in enumerate(streams):
            thread, how = assigned.get(index, (len(threads), "first"))
            if thread == len(threads):
                threads.append([])
                states.append(stream.state)
                frames.append(None)
            threads[thread].append(
                TrendPoint(
                    revision=revision.number,
                    created_at=revision.created_at,
                    stream_id=stream.stream_id,
                    name=stream.name,
                    matched_by=how,
                    figures=stream.figures,
                )
            )
            frames[thread] = stream.frame_id
    last = ordered[-1].number if ordered else 0
    place: dict[int, int] = {}
    if ordered:
        for index, stream in enumerate(ordered[-1].streams[:MAX_STREAMS_PER_REVISION]):
            place.setdefault(stream.stream_id, index)

    def rank(points: list[TrendPoint]) -> tuple[int, int, int]:
        end = points[-1]
        if end.revision == last:
            return (0, place.get(end.stream_id, 0), 0)
        return (1, -end.revision, points[0].revision)

    return [
        Trend(name=points[-1].name, state=state, points=tuple(points))
        for points, state in sorted(zip(threads, states, strict=True), key=lambda t: rank(t[0]))
    ]


def _points(before: float | None, after: float | None, digits: int) -> float | None:
    if before is None or after is None:
        return None
    return round(after - before, digits) + 0.0


def _count(before: int | None, after: int | None) -> int | None:
    return None if before is None or after is None else after - before


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits) + 0.0


def since_last_workshop(trend: Trend) -> Delta | None:
    """The change of the trend's latest point since the last workshop, or None.

    The last workshop is the latest earlier point whose figures differ from the latest one: a
    board synced again without a change to this stream is the same workshop. None when every
    earlier point has the same figures, or there is none.
    """
    latest = trend.latest
    before = next(
        (point for point in reversed(trend.points[:-1]) if point.figures != latest.figures), None
    )
    if before is None:
        return None
    old, new = before.figures, latest.figures
    lead_min, lead_pct = change(old.total_lead_time_min, new.total_lead_time_min)
    process_min, process_pct = change(old.total_process_time_min, new.total_process_time_min)
    return Delta(
        since_revision=before.revision,
        since_created_at=before.created_at,
        lead_time_change_min=_rounded(lead_min, 2),
        lead_time_change_pct=_rounded(lead_pct, 1),
        process_time_change_min=_rounded(process_min, 2),
        process_time_change_pct=_rounded(process_pct, 1),
        activity_ratio_change=_points(old.activity_ratio, new.activity_ratio, 4),
        rolled_complete_accurate_change=_points(
            old.rolled_complete_accurate, new.rolled_complete_accurate, 4
        ),
        handoffs_change=_count(old.handoffs, new.handoffs),
        problem_weight_change=_count(old.problem_weight, new.problem_weight),
    )
