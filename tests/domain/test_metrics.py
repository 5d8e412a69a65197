"""Stream metrics: counts, critical-path totals, activity ratio, rolled %C&A, handoffs."""

from __future__ import annotations

import pytest

from service.domain.metrics import critical_path, stream_metrics
from service.domain.ruleset import StreamState
from service.domain.streams import Problem, Step, Stream


def step(
    id: str,
    order: int,
    *,
    pt: float | None = None,
    lt: float | None = None,
    ca: float | None = None,
    lane: str | None = None,
    value_adding: bool = True,
) -> Step:
    return Step(
        id=id,
        order=order,
        title=id,
        lane=lane,
        value_adding=value_adding,
        process_time_min=pt,
        lead_time_min=lt,
        wait_time_min=None,
        complete_accurate_pct=ca,
        source_item_ids=(id,),
    )


def problem(id: str, weight: int) -> Problem:
    return Problem(id, id, None, weight, weight, 0, (id,))


def stream(
    *steps: Step, edges: tuple[tuple[str, str], ...] = (), problems: tuple[Problem, ...] = ()
) -> Stream:
    return Stream(
        id="s",
        name="s",
        state=StreamState.CURRENT,
        frame_id=None,
        persona=None,
        lanes=(),
        steps=steps,
        problems=problems,
        ideas=(),
        edges=edges,
    )


def test_a_linear_stream_sums_its_times_and_relates_them_as_a_fraction() -> None:
    metrics = stream_metrics(
        stream(step("a", 1, pt=30, lt=120), step("b", 2, pt=10, lt=480, value_adding=False))
    )

    assert (metrics.total_process_time_min, metrics.total_lead_time_min) == (40, 600)
    assert metrics.activity_ratio == pytest.approx(40 / 600)
    assert (metrics.step_count, metrics.value_adding_steps, metrics.non_value_adding_steps) == (
        2,
        1,
        1,
    )


def test_of_a_parallel_group_only_the_step_with_the_longest_lead_time_counts() -> None:
    steps = (
        step("a", 1, pt=10, lt=60),
        step("b", 2, pt=100, lt=200),
        step("c", 2, pt=5, lt=900),
        step("d", 3, pt=20, lt=40),
    )

    metrics = stream_metrics(stream(*steps))

    assert [s.id for s in critical_path(steps)] == ["a", "c", "d"]
    assert (metrics.total_process_time_min, metrics.total_lead_time_min) == (35, 1000)


def test_a_parallel_group_without_lead_times_counts_its_longest_process_time() -> None:
    steps = (step("a", 1, pt=10), step("b", 1, pt=25))

    metrics = stream_metrics(stream(*steps))

    assert (metrics.total_process_time_min, metrics.total_lead_time_min) == (25, None)


def test_unknown_times_stay_unknown_instead_of_zero() -> None:
    metrics = stream_metrics(stream(step("a", 1), step("b", 2)))

    assert metrics.total_process_time_min is None
    assert metrics.total_lead_time_min is None
    assert metrics.activity_ratio is None
    assert metrics.rolled_complete_accurate is None


def test_known_times_add_up_even_when_some_steps_state_none() -> None:
    metrics = stream_metrics(stream(step("a", 1, lt=60), step("b", 2), step("c", 3, lt=30)))

    assert metrics.total_lead_time_min == 90
    assert metrics.activity_ratio is None


def test_a_zero_lead_time_gives_no_activity_ratio() -> None:
    assert stream_metrics(stream(step("a", 1, pt=0, lt=0))).activity_ratio is None


def test_rolled_complete_accurate_multiplies_the_stated_values() -> None:
    metrics = stream_metrics(stream(step("a", 1, ca=80), step("b", 2), step("c", 3, ca=90)))

    assert metrics.rolled_complete_accurate == pytest.approx(0.72)


def test_handoffs_count_lane_changes_between_consecutive_steps() -> None:
    steps = (
        step("a", 1, lane="Sales"),
        step("b", 2, lane="Sales"),
        step("c", 3, lane="Legal"),
        step("d", 4, lane="Sales"),
        step("e", 5),
    )

    assert stream_metrics(stream(*steps)).handoffs == 2


def test_handoffs_follow_the_connectors_through_a_fork_and_a_join() -> None:
    steps = (
        step("a", 1, lane="Dev"),
        step("b", 2, lane="Test"),
        step("c", 2, lane="Dev"),
        step("d", 3, lane="Ops"),
    )
    edges = (("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"))

    assert stream_metrics(stream(*steps, edges=edges)).handoffs == 3


def test_problem_count_and_weight_sum_the_votes() -> None:
    metrics = stream_metrics(stream(step("a", 1), problems=(problem("p", 3), problem("q", 0))))

    assert (metrics.problem_count, metrics.problem_weight) == (2, 3)


def test_an_empty_stream_has_zero_counts_and_unknown_times() -> None:
    metrics = stream_metrics(stream())

    assert (metrics.step_count, metrics.handoffs, metrics.total_lead_time_min) == (0, 0, None)
