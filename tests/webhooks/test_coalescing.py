"""Coalescing at the use-case level: one import per window, exactly one follow-up, no lost update.

The runtime runs with a scheduler that only records what it was asked to schedule, so each test
decides when a fire happens; the database is real (SQLite and PostgreSQL).
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from service.db.engine import SessionFactory, create_session_factory
from service.db.tables import Board, ImportJob, utcnow
from service.settings import WebhookSettings
from service.usecases.imports import parse_dump, run_import_job, submit_import
from service.usecases.keys import create_api_key
from service.usecases.uploads import UploadFolder
from service.webhooks import triggers
from service.webhooks.config import SecretBox
from service.webhooks.egress import EgressPolicy
from service.webhooks.runtime import HookRuntime
from service.webhooks.tables import (
    BoardWebhook,
    HookDeliverySeen,
    HookState,
    HookTrigger,
    Subscription,
    SubscriptionDelivery,
    TriggerOutcome,
)
from testkit.service_dumps import stream_dump

BOX = SecretBox([Fernet.generate_key().decode()])


class Recorder:
    def __init__(self) -> None:
        self.fires: list[tuple[int, float]] = []
        self.deliveries: list[tuple[int, int, float]] = []
        self._lock = threading.Lock()

    def fire(self, board_id: int, delay_s: float) -> None:
        with self._lock:
            self.fires.append((board_id, delay_s))

    def deliver(self, delivery_id: int, attempt: int, delay_s: float) -> None:
        with self._lock:
            self.deliveries.append((delivery_id, attempt, delay_s))


@pytest.fixture
def sessions(engine: Engine) -> SessionFactory:
    return create_session_factory(engine)


@pytest.fixture
def board_id(sessions: SessionFactory, uploads: UploadFolder) -> int:
    dump = stream_dump(3)
    with sessions() as session:
        workspace_id = create_api_key(session, "alice").workspace.id
        assert workspace_id is not None
        job, _ = submit_import(
            session, uploads, workspace_id, json.dumps(dump).encode(), parse_dump(dump)
        )
        session.commit()
        assert job.id is not None
        job_id = job.id
    with sessions() as session:
        finished = run_import_job(session, uploads, job_id)
        assert finished is not None
        assert finished.board_id is not None
        board = finished.board_id
    with sessions() as session:
        triggers.rotate_secret(session, board, BOX, overlap_s=0, now=utcnow())
        session.commit()
    return board


@pytest.fixture
def runtime(sessions: SessionFactory, uploads: UploadFolder) -> HookRuntime:
    return HookRuntime(
        sessions=sessions,
        settings=WebhookSettings(debounce_s=0),
        scheduler=Recorder(),
        box=BOX,
        policy=EgressPolicy(),
        client=httpx.Client(),
        uploads=uploads,
    )


def record(
    sessions: SessionFactory, board_id: int, delivery: str, *, now: datetime, debounce_s: float
) -> triggers.TriggerResult:
    """A verified trigger recorded as the route records it: its own transaction."""
    with triggers.TriggerStore(sessions.kw["bind"]).transaction() as tx:
        return triggers.accept_trigger(
            tx, board_id, delivery, now=now, debounce_s=debounce_s, body_bytes=2
        )


def trigger(sessions: SessionFactory, board_id: int, delivery: str) -> triggers.TriggerResult:
    return record(sessions, board_id, delivery, now=utcnow(), debounce_s=0)


def webhook_jobs(sessions: SessionFactory) -> list[ImportJob]:
    with sessions() as session:
        return list(
            session.exec(
                select(ImportJob).where(ImportJob.trigger == "webhook").order_by(col(ImportJob.id))
            ).all()
        )


def state(sessions: SessionFactory, board_id: int) -> BoardWebhook:
    with sessions() as session:
        row = session.get(BoardWebhook, board_id)
        assert row is not None
        return row


def test_only_the_trigger_that_starts_the_window_schedules_a_fire(
    sessions: SessionFactory, board_id: int
) -> None:
    results = [trigger(sessions, board_id, f"d{n}") for n in range(5)]

    assert [r.outcome for r in results] == [TriggerOutcome.ACCEPTED] + [
        TriggerOutcome.COALESCED
    ] * 4
    assert [r.fire_in_s for r in results] == [0, None, None, None, None]
    assert [r.detail for r in results] == [triggers.ACCEPTED_DETAIL] + [triggers.PENDING_DETAIL] * 4


def test_a_trigger_whose_webhook_is_gone_is_refused_and_writes_nothing(
    sessions: SessionFactory, board_id: int
) -> None:
    # The webhook deleted between the read of its secrets and the trigger's record.
    with sessions() as session:
        session.delete(session.get(BoardWebhook, board_id))
        session.commit()

    with pytest.raises(triggers.TriggerRejected) as refused:
        trigger(sessions, board_id, "orphan")

    assert refused.value.reason == "no_webhook"
    with sessions() as session:
        assert session.exec(select(HookDeliverySeen)).all() == []
        assert session.exec(select(HookTrigger)).all() == []


def test_concurrent_triggers_start_exactly_one_window(
    sessions: SessionFactory, board_id: int
) -> None:
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda n: trigger(sessions, board_id, f"c{n}"), range(40)))

    assert sum(r.outcome == TriggerOutcome.ACCEPTED for r in results) == 1
    assert sum(r.fire_in_s is not None for r in results) == 1


def test_a_trigger_during_a_running_import_leads_to_exactly_one_follow_up(
    sessions: SessionFactory, board_id: int, runtime: HookRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = runtime.scheduler
    assert isinstance(recorder, Recorder)
    trigger(sessions, board_id, "first")
    real_run = runtime._run
    during: list[triggers.TriggerResult] = []

    def run_with_triggers(job_id: int) -> None:
        assert state(sessions, board_id).state == HookState.RUNNING
        during.extend(trigger(sessions, board_id, f"during-{n}") for n in range(3))
        real_run(job_id)

    monkeypatch.setattr(runtime, "_run", run_with_triggers)
    runtime.fire(board_id)

    assert [r.detail for r in during] == ["queued after the running import"] * 3
    assert recorder.fires == [(board_id, 0)]  # the one follow-up
    assert state(sessions, board_id).state == HookState.PENDING

    monkeypatch.setattr(runtime, "_run", real_run)
    runtime.fire(board_id)

    assert recorder.fires == [(board_id, 0)]  # nothing after the follow-up
    assert state(sessions, board_id).state == HookState.IDLE
    assert len(webhook_jobs(sessions)) == 2


def test_a_spare_or_duplicate_fire_runs_no_extra_import(
    sessions: SessionFactory, board_id: int, runtime: HookRuntime
) -> None:
    trigger(sessions, board_id, "one")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: runtime.fire(board_id), range(4)))
    runtime.fire(board_id)

    assert len(webhook_jobs(sessions)) == 1
    assert state(sessions, board_id).state == HookState.IDLE


def test_an_early_fire_waits_for_the_rest_of_the_window(
    sessions: SessionFactory, board_id: int, runtime: HookRuntime
) -> None:
    record(sessions, board_id, "slow", now=utcnow(), debounce_s=60)

    runtime.fire(board_id)

    assert webhook_jobs(sessions) == []
    ((fired_board, wait),) = runtime.scheduler.fires  # type: ignore[attr-defined]
    assert fired_board == board_id
    assert 50 < wait <= 60


def test_a_trigger_after_the_import_settled_is_never_lost(
    sessions: SessionFactory, board_id: int, runtime: HookRuntime
) -> None:
    trigger(sessions, board_id, "a")
    runtime.fire(board_id)

    later = trigger(sessions, board_id, "b")

    assert later.outcome == TriggerOutcome.ACCEPTED
    assert later.fire_in_s == 0


def test_a_lost_fire_is_re_armed_by_the_next_trigger(
    sessions: SessionFactory, board_id: int
) -> None:
    long_ago = utcnow() - timedelta(minutes=10)
    record(sessions, board_id, "old", now=long_ago, debounce_s=1)

    result = trigger(sessions, board_id, "new")

    assert result.outcome == TriggerOutcome.COALESCED
    assert result.fire_in_s == 0


def test_a_running_state_left_by_a_crash_is_finished_by_the_next_fire(
    sessions: SessionFactory, board_id: int, runtime: HookRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    trigger(sessions, board_id, "crash")

    def crash(job_id: int) -> None:
        raise SystemExit("worker killed")

    monkeypatch.setattr(runtime, "_run", crash)
    with pytest.raises(SystemExit):
        runtime.fire(board_id)
    assert state(sessions, board_id).state == HookState.RUNNING

    monkeypatch.undo()
    runtime.fire(board_id)  # the redelivered task

    (job,) = webhook_jobs(sessions)
    assert job.status == "unchanged"
    assert state(sessions, board_id).state == HookState.IDLE


def test_purge_drops_old_log_entries_and_stale_delivery_ids(
    sessions: SessionFactory, board_id: int
) -> None:
    old = utcnow() - timedelta(days=15)
    record(sessions, board_id, "ancient", now=old, debounce_s=0)
    trigger(sessions, board_id, "recent")

    with sessions() as session:
        counts = triggers.purge(
            session, now=utcnow(), retention=timedelta(days=14), tolerance_s=300
        )
        session.commit()

    assert counts == {"delivery_ids": 1, "trigger_log": 1}


def test_a_trigger_on_a_live_board_fetches_it_from_its_provider(
    sessions: SessionFactory, board_id: int, runtime: HookRuntime
) -> None:
    with sessions() as session:
        board = session.get(Board, board_id)
        assert board is not None
        board.source = "miro"
        session.add(board)
        session.commit()
        workspace_id = board.workspace_id
    fetched: list[int] = []

    def fetch(board: int) -> int | None:
        """Stands in for fetch_and_import: the provider now has a fourth step."""
        fetched.append(board)
        dump = stream_dump(4)
        with sessions() as session:
            job, _ = submit_import(
                session,
                runtime.uploads,
                workspace_id,
                json.dumps(dump).encode(),
                parse_dump(dump),
                trigger="webhook",
            )
            session.commit()
            return job.id

    runtime.live_fetchers = {"miro": fetch}
    trigger(sessions, board_id, "live")

    runtime.fire(board_id)

    assert fetched == [board_id]
    (job,) = webhook_jobs(sessions)
    assert (job.kind, job.status, job.revision_number) == ("import", "succeeded", 2)
    assert state(sessions, board_id).state == HookState.IDLE


def test_a_board_of_an_unconfigured_provider_is_reclassified_from_its_stored_board(
    sessions: SessionFactory, board_id: int, runtime: HookRuntime
) -> None:
    with sessions() as session:
        board = session.get(Board, board_id)
        assert board is not None
        board.source = "mural"
        session.add(board)
        session.commit()
    runtime.live_fetchers = {"miro": lambda board: None}
    trigger(sessions, board_id, "stored")

    runtime.fire(board_id)

    (job,) = webhook_jobs(sessions)
    assert (job.kind, job.status) == ("reclassify", "unchanged")


def test_a_restarted_process_reschedules_pending_boards_and_deliveries_when_they_are_due(
    sessions: SessionFactory, board_id: int, runtime: HookRuntime
) -> None:
    now = utcnow()
    record(sessions, board_id, "before", now=now, debounce_s=30)
    with sessions() as session:
        board = session.get(Board, board_id)
        assert board is not None
        subscription = Subscription(
            workspace_id=board.workspace_id,
            url="https://hooks.example.com/x",
            events=["import.failed"],
            secret=BOX.seal("whsec_x"),
        )
        session.add(subscription)
        session.flush()
        assert subscription.id is not None
        session.add(
            SubscriptionDelivery(
                subscription_id=subscription.id,
                event_id="e1",
                event_type="import.failed",
                payload={},
                attempts=2,
                next_attempt_at=now + timedelta(minutes=2),
            )
        )
        session.commit()

    runtime.recover()

    recorder = runtime.scheduler
    assert isinstance(recorder, Recorder)
    ((fired, fire_in),) = recorder.fires
    ((_, attempt, deliver_in),) = recorder.deliveries
    assert fired == board_id
    assert 25 < fire_in <= 30
    assert attempt == 3
    assert 110 < deliver_in <= 120


def test_the_sweep_emits_events_a_lost_worker_never_sent_and_only_once(
    sessions: SessionFactory, board_id: int, runtime: HookRuntime
) -> None:
    with sessions() as session:
        board = session.get(Board, board_id)
        assert board is not None
        session.add(
            Subscription(
                workspace_id=board.workspace_id,
                url="https://hooks.example.com/x",
                events=["import.failed"],
                secret=BOX.seal("whsec_x"),
            )
        )
        session.add(
            ImportJob(
                workspace_id=board.workspace_id,
                board_id=board_id,
                status="failed",
                error="gave up",
                finished_at=utcnow(),
            )
        )
        session.commit()

    runtime.emit_recent(utcnow() - timedelta(minutes=5))
    runtime.emit_recent(utcnow() - timedelta(minutes=5))

    recorder = runtime.scheduler
    assert isinstance(recorder, Recorder)
    assert [(attempt, delay) for _, attempt, delay in recorder.deliveries] == [(1, 0.0)]
