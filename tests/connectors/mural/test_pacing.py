"""Pacing on Mural's one-second windows: concurrent calls around a window reset or before the
first figure must not be handed more credits than the window holds (in memory and in Redis)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from connectors.http import MemoryRateBudget, RateBudget, RateSnapshot, RedisRateBudget

T0 = 1_800_000_000.0

pytestmark = pytest.mark.anyio


async def first_answer_of_a_locally_opened_window_gives_no_credit_back(budget: RateBudget) -> None:
    await budget.observe(RateSnapshot(remaining=0, reset_at=T0 + 1, limit=5), T0)
    opened = [await budget.reserve(1, T0 + 1.0) for _ in range(5)]

    # The first call of the new window answers before the other four were counted.
    await budget.observe(RateSnapshot(remaining=4, reset_at=T0 + 2, limit=5), T0 + 1.05)

    assert opened == [0.0] * 5
    assert await budget.reserve(1, T0 + 1.06) == pytest.approx(0.94)


async def late_answer_from_an_ended_window_takes_no_credit_from_the_new_one(
    budget: RateBudget,
) -> None:
    await budget.observe(RateSnapshot(remaining=0, reset_at=T0 + 1, limit=3), T0)
    assert await budget.reserve(1, T0 + 1.0) == 0.0
    await budget.observe(RateSnapshot(remaining=2, reset_at=T0 + 2, limit=3), T0 + 1.04)

    # An answer of the old window (reset T0+1, nothing left) arrives after the new one began.
    await budget.observe(RateSnapshot(remaining=0, reset_at=T0 + 1, limit=3), T0 + 1.05)

    waits = [await budget.reserve(1, T0 + 1.06) for _ in range(3)]
    assert waits == [0.0, 0.0, pytest.approx(0.94)]


async def calls_let_through_blind_are_taken_off_the_first_figure(budget: RateBudget) -> None:
    blind = [await budget.reserve(1, T0) for _ in range(5)]

    # The first answer was counted before the other four calls reached the server.
    await budget.observe(RateSnapshot(remaining=9, reset_at=T0 + 1, limit=10), T0 + 0.05)

    waits = [await budget.reserve(1, T0 + 0.06) for _ in range(6)]
    assert blind == [0.0] * 5
    assert waits == [0.0] * 5 + [pytest.approx(0.94)]


BEHAVIOURS: list[Callable[[RateBudget], Awaitable[None]]] = [
    first_answer_of_a_locally_opened_window_gives_no_credit_back,
    late_answer_from_an_ended_window_takes_no_credit_from_the_new_one,
    calls_let_through_blind_are_taken_off_the_first_figure,
]


@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=lambda b: b.__name__)
async def test_window_reset_pacing_holds_in_memory(
    behaviour: Callable[[RateBudget], Awaitable[None]],
) -> None:
    await behaviour(MemoryRateBudget())


@pytest.mark.redis
@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=lambda b: b.__name__)
async def test_window_reset_pacing_holds_in_redis(
    behaviour: Callable[[RateBudget], Awaitable[None]], redis_client: Any
) -> None:
    identity = secrets.token_hex(6)
    await behaviour(RedisRateBudget(redis_client, provider="mural-test", identity=identity))
