"""The one dispatcher: registered jobs run by name, retried after the policy's delay, given up."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from celery import Celery

from connectors.errors import RateLimitedError, TransientError
from connectors.http import RetryPolicy
from service.dispatch import WORKER_MAX_MEMORY_KB, CeleryDispatcher, EmbeddedDispatcher, Job

FAST = RetryPolicy(max_tries=3, base_delay=0.01, max_delay=0.02)


class Script:
    """A job that fails as scripted, then succeeds; records when each call came."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls: list[tuple[tuple[object, ...], float]] = []
        self.given_up: list[tuple[object, ...]] = []

    def __call__(self, *args: object) -> None:
        self.calls.append((args, time.monotonic()))
        if self.failures:
            raise self.failures.pop(0)

    def give_up(self, *args: object) -> None:
        self.given_up.append(args)


@pytest.fixture
def dispatcher() -> Iterator[EmbeddedDispatcher]:
    running = EmbeddedDispatcher()
    running.start()
    yield running
    running.stop()


def test_a_server_given_wait_is_honoured_exactly_never_shortened() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=60.0)
    limited = RateLimitedError("429", retry_after=7.5)

    waits = {policy.delay(attempt, limited, rand=r) for attempt in range(4) for r in (0.0, 0.5)}

    assert waits == {7.5}


def test_other_failures_wait_a_jittered_backoff_below_the_cap() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0)
    blip = TransientError("502")

    highest = [policy.delay(attempt, blip, rand=lambda: 1.0) for attempt in range(5)]
    lowest = policy.delay(3, blip, rand=lambda: 0.0)

    assert highest == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert lowest == 0.0


def test_a_rate_limited_job_runs_again_after_the_providers_wait(
    dispatcher: EmbeddedDispatcher,
) -> None:
    job = Script(RateLimitedError("429", retry_after=0.3))
    dispatcher.register(Job("boards.fetch", job, retry=FAST))

    dispatcher.publish("boards.fetch", 7, "connect")

    assert dispatcher.wait_idle(10)
    assert [args for args, _ in job.calls] == [(7, "connect")] * 2
    assert job.calls[1][1] - job.calls[0][1] >= 0.3


def test_a_job_that_keeps_failing_is_given_up_with_its_arguments_and_last_error(
    dispatcher: EmbeddedDispatcher,
) -> None:
    job = Script(*(TransientError(f"503 #{n}") for n in range(10)))
    dispatcher.register(Job("imports.run", job, retry=FAST, give_up=job.give_up))

    dispatcher.publish("imports.run", 3)

    assert dispatcher.wait_idle(10)
    assert len(job.calls) == 3
    ((board, error),) = job.given_up
    assert (board, str(error)) == (3, "503 #2")


def test_a_crashing_job_does_not_stop_the_jobs_after_it(dispatcher: EmbeddedDispatcher) -> None:
    ran = threading.Event()

    def crash() -> None:
        raise ValueError("a bug")

    dispatcher.register(Job("crash", crash))
    dispatcher.register(Job("fine", ran.set))

    dispatcher.publish("crash")
    dispatcher.publish("fine", delay_s=0.05)

    assert dispatcher.wait_idle(10)
    assert ran.is_set()


def test_a_periodic_job_runs_on_its_period_once_started() -> None:
    ticks = threading.Semaphore(0)
    running = EmbeddedDispatcher()
    running.register(Job("boards.poll", ticks.release, every_s=0.02))
    running.start()
    try:
        assert all(ticks.acquire(timeout=10) for _ in range(3))
    finally:
        running.stop()


def test_celery_gets_each_job_as_a_task_and_the_periodic_ones_on_beat() -> None:
    celery = CeleryDispatcher("memory://", queue="q", visibility_timeout_s=60)
    job = Script()
    celery.register(Job("boards.fetch", job, retry=FAST))
    celery.register(Job("boards.poll", job, every_s=45.0))

    celery.app.tasks["boards.fetch"].run(1, "poll")

    assert celery.app.conf.beat_schedule == {
        "boards.poll": {"task": "boards.poll", "schedule": 45.0}
    }
    assert [args for args, _ in job.calls] == [(1, "poll")]


def test_celery_tasks_stay_on_the_app_they_were_registered_on() -> None:
    first = CeleryDispatcher("memory://", queue="q", visibility_timeout_s=60)
    first.register(Job("boards.fetch", Script()))
    second = Celery("second", broker="memory://", set_as_current=False)

    assert "boards.fetch" in first.app.tasks
    assert "boards.fetch" not in second.tasks


def test_a_slow_periodic_job_does_not_pile_up_in_front_of_the_jobs_it_shares_a_lane_with() -> None:
    polls: list[float] = []
    fetched: list[int] = []

    def slow_poll() -> None:
        polls.append(time.monotonic())
        time.sleep(0.05)  # a poll slower than its period

    running = EmbeddedDispatcher(lanes={"live": 1})
    running.register(Job("boards.poll", slow_poll, every_s=0.01, lane="live"))
    running.register(Job("boards.fetch", lambda: fetched.append(len(polls)), lane="live"))
    running.start()
    try:
        while len(polls) < 3:
            time.sleep(0.01)
        running.publish("boards.fetch")
        assert running.wait_idle(10)
    finally:
        running.stop()

    (polls_before_fetch,) = fetched
    assert polls_before_fetch <= 5


def test_a_celery_pool_process_that_grew_past_the_bound_is_replaced_after_its_task() -> None:
    celery = CeleryDispatcher("memory://", queue="q", visibility_timeout_s=60)

    # a 100,000-sticky import peaks near 350 MB; the process is recycled instead of keeping it
    assert celery.app.conf.worker_max_memory_per_child == WORKER_MAX_MEMORY_KB
    assert 100_000 < WORKER_MAX_MEMORY_KB < 500_000
