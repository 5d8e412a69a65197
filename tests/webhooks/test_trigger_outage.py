"""A trigger during a broker or database outage: nothing is lost once the route has answered.

A delivery id counts as used only in the transaction that makes the trigger durable (the board
``pending`` with its due time); a publish that fails after that commit is made good by the sweep,
and a trigger that could not be stored answers 503 so that the sender's retry is not a replay.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError

from service.webhooks import triggers
from tests.webhooks.conftest import DEBOUNCE_S, HookedBoard


class BrokerDown:
    """A scheduler whose broker refuses every publish."""

    def fire(self, board_id: int, delay_s: float) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    def deliver(self, delivery_id: int, attempt: int, delay_s: float) -> None:
        raise ConnectionRefusedError(111, "Connection refused")


class Recorder:
    def __init__(self) -> None:
        self.fired: list[tuple[int, float]] = []

    def fire(self, board_id: int, delay_s: float) -> None:
        self.fired.append((board_id, delay_s))

    def deliver(self, delivery_id: int, attempt: int, delay_s: float) -> None:
        raise AssertionError("no delivery expected")


def test_a_trigger_whose_publish_fails_is_accepted_and_fired_by_the_sweep(
    hooked: HookedBoard,
) -> None:
    runtime = hooked.client.app.state.runtime.hooks  # type: ignore[attr-defined]
    scheduler = runtime.scheduler
    runtime.scheduler = BrokerDown()
    try:
        response = hooked.post(delivery_id="during-outage")
    finally:
        runtime.scheduler = scheduler

    assert response.status_code == 202, response.text
    state = hooked.client.get(
        f"/v1/boards/{hooked.board_id}/webhook", headers=hooked.owner.headers
    ).json()
    assert state["state"] == "pending"
    recorder = Recorder()
    runtime.scheduler = recorder
    try:
        later = _parse(state["due_at"]) + timedelta(seconds=DEBOUNCE_S + 120)
        runtime.clock = lambda: later
        runtime.fire_overdue()
    finally:
        runtime.scheduler = scheduler
    assert recorder.fired == [(hooked.board_id, 0.0)]


def test_the_sweep_leaves_boards_whose_fire_is_not_overdue(hooked: HookedBoard) -> None:
    runtime = hooked.client.app.state.runtime.hooks  # type: ignore[attr-defined]
    scheduler, recorder = runtime.scheduler, Recorder()
    runtime.scheduler = recorder
    try:
        assert hooked.post().status_code == 202
        recorder.fired.clear()
        runtime.fire_overdue()
    finally:
        runtime.scheduler = scheduler

    assert recorder.fired == []


def test_a_trigger_that_cannot_be_stored_answers_503_and_its_retry_is_accepted(
    hooked: HookedBoard, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The connection breaks as the trigger is being recorded (whichever way it is recorded:
    # each ends in trigger_result, inside the transaction).
    real_result = triggers.trigger_result

    def database_down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("INSERT", {}, ConnectionError("server closed the connection"))

    monkeypatch.setattr(triggers, "trigger_result", database_down)
    refused = hooked.post(delivery_id="retry-me")
    monkeypatch.setattr(triggers, "trigger_result", real_result)
    retried = hooked.post(delivery_id="retry-me")

    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) > 0
    assert retried.status_code == 202, retried.text


def _parse(text: str):  # type: ignore[no-untyped-def]
    from datetime import datetime

    return datetime.fromisoformat(text)
