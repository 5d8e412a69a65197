"""Recurring problems: the problem texts of many streams grouped by similarity, by reach.

Texts are compared after a light normalisation (``problem_key``): case folded, German umlauts
and ß spelled out (``ä`` -> ``ae``, so ``Prüfung`` and ``Pruefung`` agree), punctuation and vote
marks dropped, and a short list of German and English filler words (articles, ``oft``/``often``,
``zu``/``to``...) left out. Two keys are similar with the comparison's measure
(``compare.normalized_title`` and the Indel similarity, ``2 * LCS / both lengths``) at or above
the threshold.

Grouping is leader clustering: distinct keys are taken most frequent first (then most votes,
then alphabetically), and each joins the most similar group leader at or above the threshold,
else leads a new group. So a group never drifts: every member is similar to its leader, and the
result does not depend on the order the problems arrive in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Indel

from service.domain.compare import normalized_title

DEFAULT_SIMILARITY = 0.75
# a group counts as recurring once its problem appears this often (on steps or streams)
MIN_OCCURRENCES = 2
# the group leaders one problem is compared with at most (the first ones, the most frequent)
MAX_LEADERS = 20_000
# keys scored against the leaders in one ``cdist`` call: CHUNK x (MAX_LEADERS + CHUNK) scores of
# 8 bytes, 20 MB at most
CHUNK = 128
_KEY_LIMIT = 120

_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ẞ": "ss"})
_VOTE_MARKS = re.compile(r"\(\s*\d{1,3}\s*\)|[●•⬤◉*+]{1,20}")
_FILLER = frozenset(
    {
        # German
        "der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "einem", "einer",
        "eines", "und", "oder", "zu", "zum", "zur", "im", "in", "am", "an", "auf", "ist",
        "sind", "wird", "werden", "oft", "sehr", "immer", "noch", "nur", "bei", "beim", "mit",
        "von", "vom", "fuer",
        # English
        "the", "a", "and", "or", "to", "of", "on", "at", "is", "are", "be", "often",
        "very", "always", "still", "only", "for", "with", "by", "from",
    }
)  # fmt: skip


def problem_key(text: str) -> str:
    """The normalised text two problems are compared by (see the module docstring)."""
    folded = _VOTE_MARKS.sub(" ", text.casefold().translate(_FOLD))
    words = [word for word in normalized_title(folded).split() if word not in _FILLER]
    return " ".join(words)[:_KEY_LIMIT]


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One problem as stored on a stream; ``step_id``/``step_title`` None: on the stream."""

    board_id: int
    board_name: str
    stream_id: int
    stream_key: str
    stream_name: str
    step_id: str | None
    step_title: str | None
    problem_id: str
    text: str
    votes: int


@dataclass(frozen=True, slots=True)
class ProblemGroup:
    """Similar problems. ``title`` is the text of the most-voted one (first seen on a tie);
    ``occurrences`` are ordered by votes (highest first), then board, stream and step."""

    key: str
    title: str
    occurrences: tuple[Occurrence, ...]
    total_votes: int
    boards: int
    places: int  # distinct (stream, step) places the problem appears on

    @property
    def reach(self) -> tuple[int, int, int]:
        return (self.boards, self.places, self.total_votes)


def _order(occurrence: Occurrence) -> tuple[int, int, int, str, str]:
    return (
        -occurrence.votes,
        occurrence.board_id,
        occurrence.stream_id,
        occurrence.step_id or "",
        occurrence.problem_id,
    )


def _group(key: str, members: Sequence[Occurrence]) -> ProblemGroup:
    ordered = tuple(sorted(members, key=_order))
    return ProblemGroup(
        key=key,
        title=ordered[0].text,
        occurrences=ordered,
        total_votes=sum(max(0, o.votes) for o in ordered),
        boards=len({o.board_id for o in ordered}),
        places=len({(o.stream_id, o.step_id) for o in ordered}),
    )


def _leaders(keys: Sequence[str], similarity: float) -> list[int]:
    """For each key (in the given order), the position of its group leader among ``keys``.

    A key joins the most similar leader before it at or above ``similarity`` (the earliest on a
    tie), else leads. The scores come from rapidfuzz's ``cdist`` a chunk of keys at a time against
    the leaders so far and the chunk itself: for 6,000 distinct texts 0.7 to 1.2 s against 3.3
    to 3.6 s with one ``extractOne`` per key, one after the other on a loaded machine (x2.8 to
    x5.2; bench/README.md)."""
    owner = list(range(len(keys)))
    if similarity >= 1:  # the keys are distinct: each leads its own group
        return owner
    leaders: list[int] = []
    for start in range(0, len(keys), CHUNK):
        chunk = list(range(start, min(start + CHUNK, len(keys))))
        columns = leaders[:MAX_LEADERS] + chunk
        scores = process.cdist(
            [keys[i] for i in chunk],
            [keys[i] for i in columns],
            scorer=Indel.normalized_similarity,
            score_cutoff=similarity,
            dtype=np.float64,
            workers=1,
        )
        known = len(columns) - len(chunk)
        # the best of the leaders before the chunk, for all its rows at once (scores under the
        # cutoff are 0); then, row by row, the chunk's own keys that became leaders before it
        best_known = np.argmax(scores[:, :known], axis=1) if known else None
        fresh: list[int] = []  # the chunk's rows that lead
        for row, key in enumerate(chunk):
            score, found = -1.0, -1
            if best_known is not None:
                column = int(best_known[row])
                score, found = float(scores[row, column]), column
            for lead in fresh:
                if scores[row, known + lead] > score:
                    score, found = float(scores[row, known + lead]), known + lead
            if found >= 0 and score >= similarity:
                owner[key] = columns[found]
            else:
                leaders.append(key)
                fresh.append(row)
    return owner


def group_problems(
    occurrences: Iterable[Occurrence],
    similarity: float = DEFAULT_SIMILARITY,
    min_occurrences: int = MIN_OCCURRENCES,
) -> list[ProblemGroup]:
    """Groups of similar problems that appear at least ``min_occurrences`` times, by reach.

    Reach: most boards first, then most places (stream and step), then most votes, then the
    leader's key. ``similarity`` is 0 to 1 (1: identical keys only). Problems whose key is empty
    (only punctuation or filler words) are left out.
    """
    by_key: dict[str, list[Occurrence]] = {}
    for occurrence in occurrences:
        key = problem_key(occurrence.text)
        if key:
            by_key.setdefault(key, []).append(occurrence)
    keys = sorted(
        by_key,
        key=lambda k: (-len(by_key[k]), -sum(max(0, o.votes) for o in by_key[k]), k),
    )
    leaders = _leaders(keys, similarity)
    members: dict[int, list[Occurrence]] = {}
    for key, leader in zip(keys, leaders, strict=True):
        members.setdefault(leader, []).extend(by_key[key])
    groups = [
        _group(keys[leader], found)
        for leader, found in members.items()
        if len(found) >= min_occurrences
    ]
    groups.sort(key=lambda g: (-g.boards, -g.places, -g.total_votes, g.key))
    return groups
