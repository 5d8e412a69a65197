"""Runners of the live Miro use cases: the embedded thread's retries and the Celery wiring."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

import workers.live as live_module
from connectors.errors import RateLimitedError, TransientError
from service.settings import Settings
from workers.celery_app import create_celery
from workers.live import FETCH_TASK, POLL_TASK, EmbeddedLiveSync, register_live_tasks
from workers.mural_live import FETCH_TASK as MURAL_FETCH
from workers.mural_live import POLL_TASK as MURAL_POLL
from workers.mural_live import register_mural_tasks


class Recorder:
    """Stands in for ``fetch_and_import``: fails as scripted, records every call."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls: list[tuple[int, str, float]] = []
        self.done = threading.Event()

    def __call__(self, live: Any, board_id: int, *, trigger: str) -> int:
        self.calls.append((board_id, trigger, time.monotonic()))
        if self.failures:
            raise self.failures.pop(0)
        self.done.set()
        return 1


@pytest.fixture
def no_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_module, "poll_due_boards", lambda live: [])


@pytest.mark.usefixtures("no_polls")
def test_a_rate_limited_fetch_is_tried_again_after_the_countdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fetch = Recorder(RateLimitedError("429", retry_after=0.3), TransientError("503"))
    monkeypatch.setattr(live_module, "fetch_and_import", fetch)
    runner = EmbeddedLiveSync(object(), tick_s=0.05, backoff_s=0.1)  # type: ignore[arg-type]

    runner.start()
    try:
        runner.request_fetch(7, "connect")
        assert fetch.done.wait(10)
    finally:
        runner.stop()

    assert [c[:2] for c in fetch.calls] == [(7, "connect")] * 3
    assert fetch.calls[1][2] - fetch.calls[0][2] >= 0.29  # waited for the countdown


@pytest.mark.usefixtures("no_polls")
def test_a_fetch_that_keeps_failing_gives_up_and_marks_the_board(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fetch = Recorder(*(TransientError("503") for _ in range(10)))
    given_up: list[int] = []
    monkeypatch.setattr(live_module, "fetch_and_import", fetch)
    monkeypatch.setattr(
        live_module, "_give_up", lambda live, board_id, exc: given_up.append(board_id)
    )
    runner = EmbeddedLiveSync(object(), tick_s=0.02, max_retries=2, backoff_s=0.01)  # type: ignore[arg-type]

    runner.start()
    try:
        runner.request_fetch(3, "poll")
        deadline = time.monotonic() + 10
        while not given_up and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        runner.stop()

    assert given_up == [3]
    assert len(fetch.calls) == 3


def test_celery_gets_the_fetch_and_poll_tasks_and_a_beat_schedule() -> None:
    app = Celery("test", broker="memory://", set_as_current=False)

    register_live_tasks(app, lambda: None, max_retries=2, poll_every_s=45.0)

    assert FETCH_TASK in app.tasks
    assert POLL_TASK in app.tasks
    assert app.conf.beat_schedule[POLL_TASK] == {"task": POLL_TASK, "schedule": 45.0}
    # Without Miro settings both tasks do nothing instead of failing.
    assert app.tasks[FETCH_TASK].run(1) is None
    assert app.tasks[POLL_TASK].run() is None


def test_the_celery_app_runs_the_live_tasks_of_both_providers_and_schedules_their_polls(
    tmp_path: Path,
) -> None:
    app = create_celery(Settings(broker_url="memory://", database_url=f"sqlite:///{tmp_path}/x.db"))

    assert {FETCH_TASK, POLL_TASK, MURAL_FETCH, MURAL_POLL} <= set(app.tasks)
    assert {POLL_TASK, MURAL_POLL} <= set(app.conf.beat_schedule)
    # Neither provider is configured: the tasks do nothing instead of failing.
    assert app.tasks[FETCH_TASK].run(1) is None
    assert app.tasks[MURAL_POLL].run() is None


@pytest.mark.parametrize("register", [register_live_tasks, register_mural_tasks])
def test_live_tasks_stay_on_the_celery_app_they_were_registered_on(
    register: Callable[..., None],
) -> None:
    first = Celery("first", broker="memory://", set_as_current=False)
    register(first, lambda: None, max_retries=1)
    second = Celery("second", broker="memory://", set_as_current=False)

    first_tasks, second_tasks = set(first.tasks), set(second.tasks)

    assert {FETCH_TASK, MURAL_FETCH} & first_tasks
    assert not {FETCH_TASK, POLL_TASK, MURAL_FETCH, MURAL_POLL} & second_tasks
