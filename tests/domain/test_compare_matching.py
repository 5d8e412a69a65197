"""Fuzzy step matching: the Indel similarity, taken greedily, best pair first, one to one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.compare import match_titles

_TITLES = st.text(alphabet="abcé 12", max_size=8)


def _lcs(a: str, b: str) -> int:
    """Length of the longest common subsequence (the textbook table)."""
    row = [0] * (len(b) + 1)
    for char in a:
        diagonal = 0
        for j, other in enumerate(b, 1):
            diagonal, row[j] = row[j], diagonal + 1 if char == other else max(row[j], row[j - 1])
    return row[-1]


def _similarity(a: str, b: str) -> float:
    return 2 * _lcs(a, b) / (len(a) + len(b)) if a or b else 1.0


def _greedy(
    current: list[str], target: list[str], threshold: float
) -> dict[int, tuple[int, float]]:
    """The definition: identical titles in order, then every pair scored, sorted, taken."""
    matched: dict[int, tuple[int, float]] = {}
    for i, title in enumerate(current):
        free = [j for j, other in enumerate(target) if other == title]
        free = [j for j in free if j not in {m for m, _ in matched.values()}]
        if free:
            matched[i] = (free[0], 1.0)
    pairs = sorted(
        (-_similarity(a, b), i, j)
        for i, a in enumerate(current)
        for j, b in enumerate(target)
        if i not in matched and _similarity(a, b) >= threshold
    )
    used = {j for j, _ in matched.values()}
    for negative, i, j in pairs:
        if i not in matched and j not in used:
            matched[i], used = (j, -negative), used | {j}
    return matched


@settings(max_examples=500, deadline=None)
@given(st.lists(_TITLES, max_size=7), st.lists(_TITLES, max_size=7), st.sampled_from([0.4, 0.6]))
def test_matching_takes_the_most_similar_pairs_first(
    current: list[str], target: list[str], threshold: float
) -> None:
    matched, exhaustive = match_titles(current, target, threshold)

    expected = _greedy(current, target, threshold)
    assert exhaustive
    assert matched.keys() == expected.keys()
    for i, (j, score) in matched.items():
        assert j == expected[i][0]
        assert abs(score - expected[i][1]) < 1e-12


def test_a_longer_shared_subsequence_beats_a_shared_block() -> None:
    # "Antrag prüfen" shares more letters in order with "Antrag online prüfen" than with "Antrag"
    matched, _ = match_titles(["antrag prüfen"], ["antrag", "antrag online prüfen"], 0.6)

    assert matched[0][0] == 1
