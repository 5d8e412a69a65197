"""Recurring problems: similar problem texts across boards grouped and ranked by reach."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import process
from rapidfuzz.distance import Indel

from service.domain.recurring import CHUNK, Occurrence, _leaders, group_problems, problem_key


def occurrence(
    text: str, board: int = 1, votes: int = 1, step: str | None = "st-1", stream: int | None = None
) -> Occurrence:
    stream_id = stream if stream is not None else board * 10
    return Occurrence(
        board_id=board,
        board_name=f"Board {board}",
        stream_id=stream_id,
        stream_key=f"s-{stream_id}",
        stream_name="Ist",
        step_id=step,
        step_title=None if step is None else f"Step {step}",
        problem_id=f"p-{board}-{text}",
        text=text,
        votes=votes,
    )


def test_german_spellings_case_and_punctuation_fold_to_one_key() -> None:
    assert problem_key("Prüfung dauert zu lange!") == problem_key("PRUEFUNG dauert zu lange")
    assert problem_key("Die Freigabe fehlt (3)") == problem_key("Freigabe fehlt ●●")
    assert problem_key("The release is waiting for sign-offs") == problem_key(
        "Release waiting for sign offs"
    )


def test_similar_problems_on_different_boards_form_one_group_with_their_votes() -> None:
    groups = group_problems(
        [
            occurrence("Bestätigungs-E-Mail landet oft im Spam-Ordner", board=1, votes=5),
            occurrence("Bestätigungsmail landet im Spam-Ordner", board=2, votes=3),
            occurrence("Flaky UI tests block the pipeline", board=3, votes=4),
        ]
    )

    assert len(groups) == 1
    group = groups[0]
    assert group.title == "Bestätigungs-E-Mail landet oft im Spam-Ordner"
    assert (group.total_votes, group.boards, group.places) == (8, 2, 2)
    assert [o.board_id for o in group.occurrences] == [1, 2]


def test_a_problem_seen_once_is_not_recurring() -> None:
    assert group_problems([occurrence("Nobody reads the slide decks")]) == []


def test_groups_are_sorted_by_boards_then_places_then_votes() -> None:
    groups = group_problems(
        [
            occurrence("Design review only every second Thursday", board=1, votes=9),
            occurrence("Design review only every second Thursday", board=1, votes=9, step="st-2"),
            occurrence("Approval takes three weeks", board=1, votes=1),
            occurrence("Approval takes three weeks", board=2, votes=1),
        ]
    )

    assert [g.title for g in groups] == [
        "Approval takes three weeks",
        "Design review only every second Thursday",
    ]


def test_a_threshold_of_one_groups_identical_keys_only() -> None:
    texts = ["Freigabe dauert zu lange", "Freigaben dauern zu lange"]

    loose = group_problems([occurrence(t, board=i) for i, t in enumerate(texts)], similarity=0.7)
    strict = group_problems([occurrence(t, board=i) for i, t in enumerate(texts)], similarity=1.0)

    assert len(loose) == 1
    assert strict == []


WORDS = ["Freigabe", "dauert", "lange", "Spam", "Ordner", "tests", "flaky", "review", "wartet"]
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)


@settings(max_examples=60, deadline=None)
@given(st.lists(texts, min_size=1, max_size=25), st.randoms(use_true_random=False))
def test_grouping_does_not_depend_on_the_order_problems_arrive_in(
    problems: list[str], random: st.SearchStrategy[object]
) -> None:
    arrived = [occurrence(text, board=i % 4, step=f"st-{i}") for i, text in enumerate(problems)]
    shuffled = list(arrived)
    random.shuffle(shuffled)  # type: ignore[attr-defined]

    assert group_problems(shuffled) == group_problems(arrived)


@settings(max_examples=60, deadline=None)
@given(st.lists(texts, min_size=1, max_size=25), st.sampled_from([0.6, 0.75, 0.9]))
def test_every_problem_in_a_group_is_similar_to_its_leader(
    problems: list[str], similarity: float
) -> None:
    groups = group_problems(
        [occurrence(text, board=i) for i, text in enumerate(problems)], similarity=similarity
    )

    for group in groups:
        for member in group.occurrences:
            assert Indel.normalized_similarity(problem_key(member.text), group.key) >= similarity


def _leaders_one_by_one(keys: list[str], similarity: float) -> list[int]:
    """The leader clustering written plainly: one ``extractOne`` per key over the leaders."""
    leaders: list[int] = []
    owner = []
    for index, key in enumerate(keys):
        found = process.extractOne(
            key,
            [keys[i] for i in leaders],
            scorer=Indel.normalized_similarity,
            score_cutoff=similarity,
        )
        if found is None:
            leaders.append(index)
            owner.append(index)
        else:
            owner.append(leaders[found[2]])
    return owner


@pytest.mark.parametrize("similarity", [0.5, 0.75, 0.9])
def test_the_chunked_scoring_picks_the_same_leaders_as_comparing_one_key_at_a_time(
    similarity: float,
) -> None:
    rng = random.Random(7)
    words = ["freigabe", "rechnung", "dauert", "lange", "fehlt", "spam", "release", "wartet"]
    keys = sorted(
        {
            " ".join(rng.choice(words) for _ in range(rng.randint(1, 4)))
            + ("" if rng.random() < 0.5 else f" {rng.randint(1, 9)}")
            for _ in range(3 * CHUNK)
        }
    )
    assert len(keys) > CHUNK  # the leaders of earlier chunks and of the same chunk both count

    assert _leaders(keys, similarity) == _leaders_one_by_one(keys, similarity)
