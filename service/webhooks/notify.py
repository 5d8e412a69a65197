"""Outbound notifications: subscriptions, events of finished imports, signed delivery attempts.

An event is written once per subscription (``subscription_delivery``, unique per event id), so
emitting the events of a job again (a redelivered task, the embedded poller) adds nothing. A
delivery is attempted by exactly one worker per attempt number: the attempt is claimed with a
conditional UPDATE before the HTTP call. Retries follow ``DELIVERY_RETRY`` (the one retry policy:
a receiver's ``Retry-After`` honoured exactly, else full-jitter backoff from 30 s capped at an
hour) until ``delivery_window_s`` after the event; then the delivery is ``failed``.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from connectors.errors import RateLimitedError
from connectors.http import RetryPolicy, retry_after_seconds
from service.db.engine import begin_write
from service.db.tables import Board, ImportJob, JobStatus, Revision
from service.domain.utc import utc_iso
from service.webhooks import signing
from service.webhooks.config import SecretBox
from service.webhooks.egress import EgressPolicy, EgressRefused, post, vet_url
from service.webhooks.tables import (
    DeliveryAttempt,
    DeliveryStatus,
    Subscription,
    SubscriptionDelivery,
)

EVENT_TYPES = ("revision.created", "import.failed")
MAX_SUBSCRIPTIONS = 50  # per workspace
USER_AGENT = "Valuestream-Webhooks/1"
_ERROR_CHARS = 500
# Namespace of the deterministic event ids (uuid5), so every emitter names an event the same.
_EVENT_NAMESPACE = uuid.UUID("6f1d7c3e-8a52-4c55-9a55-0b7c1f9e2d10")


# Attempt n+1 waits up to 30 s * 2**(n-1), at most an hour; the window ends them first (about
# 35 attempts in a day at the longest waits).
DELIVERY_RETRY = RetryPolicy(max_tries=100, base_delay=30.0, max_delay=3600.0)


class SubscriptionError(ValueError):
    """The subscription cannot be created as asked; the message says why."""


def validate_subscription(url: str, events: Sequence[str], policy: EgressPolicy) -> None:
    """Refuse unknown events and URLs the egress guard refuses (resolves the host: slow)."""
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown or not events:
        raise SubscriptionError(
            f"events must be a non-empty subset of {', '.join(EVENT_TYPES)}"
            + (f"; unknown: {', '.join(unknown)[:200]}" if unknown else "")
        )
    try:
        vet_url(url, policy)
    except EgressRefused as exc:
        raise SubscriptionError(f"the URL cannot be called: {exc}") from None


def create_subscription(
    session: Session,
    workspace_id: int,
    url: str,
    events: Sequence[str],
    box: SecretBox,
    policy: EgressPolicy,
    *,
    description: str = "",
    validated: bool = False,
) -> tuple[Subscription, str]:
    """Store a subscription; returns it and its signing secret (shown once). Flushes only.

    The URL is vetted now (``validate_subscription``; skipped when the caller did it already,
    outside its write transaction) so a refused target is reported to the client at once;
    every delivery checks it again.
    """
    if not validated:
        validate_subscription(url, events, policy)
    count = session.exec(
        select(sa.func.count())
        .select_from(Subscription)
        .where(Subscription.workspace_id == workspace_id)
    ).one()
    if count >= MAX_SUBSCRIPTIONS:
        raise SubscriptionError(f"a workspace has at most {MAX_SUBSCRIPTIONS} subscriptions")
    secret = signing.new_secret()
    subscription = Subscription(
        workspace_id=workspace_id,
        url=url,
        events=sorted(set(events)),
        secret=box.seal(secret),
        description=description,
    )
    session.add(subscription)
    session.flush()
    return subscription, secret


def event_id(subscription_id: int, key: str) -> str:
    """The delivery id a subscription sees for the event ``key``: stable across re-emission."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{subscription_id}:{key}"))


def job_event(
    session: Session, job: ImportJob, *, base_url: str
) -> tuple[str, str, dict[str, Any]] | None:
    """``(type, key, data)`` of the event a finished job causes, or None (unchanged, running)."""
    board = session.get(Board, job.board_id) if job.board_id is not None else None
    board_json = (
        {
            "id": board.id,
            "provider": board.provider,
            "external_id": board.external_id,
            "name": board.name,
        }
        if board is not None
        else None
    )
    if job.status == JobStatus.SUCCEEDED and board is not None and job.revision_number:
        revision = session.exec(
            select(Revision).where(
                Revision.board_id == board.id, Revision.number == job.revision_number
            )
        ).first()
        if revision is None:
            return None
        number = revision.number
        previous = number - 1 if number > 1 else None
        links = {"revision": f"{base_url}/v1/boards/{board.id}/streams?revision={number}"}
        if previous is not None:
            links["diff"] = f"{base_url}/v1/boards/{board.id}/diff?from={previous}&to={number}"
        data = {
            "board": board_json,
            "revision": {
                "number": number,
                "previous": previous,
                "trigger": revision.trigger,
                "created_at": utc_iso(revision.created_at),
                "item_count": revision.item_count,
                "stream_count": revision.stream_count,
                "step_count": revision.step_count,
                "problem_count": revision.problem_count,
                "unclassified_count": revision.unclassified_count,
            },
            "import_job_id": job.id,
            "links": links,
        }
        return "revision.created", f"revision:{board.id}:{number}", data
    if job.status == JobStatus.FAILED:
        data = {
            "board": board_json,
            "import_job": {
                "id": job.id,
                "trigger": job.trigger,
                "provider": job.provider,
                "external_id": job.external_id,
                "error": job.error,
                "attempts": job.attempts,
            },
            "links": {"import_job": f"{base_url}/v1/imports/{job.id}"},
        }
        return "import.failed", f"job-failed:{job.id}", data
    return None


def emit_job_events(session: Session, job_id: int, *, base_url: str, now: datetime) -> list[int]:
    """Write the finished job's event for every subscription of its workspace that wants it.

    Returns the ids of the deliveries created now (to schedule after the commit); an event
    emitted before is skipped. Commits.
    """
    job = session.get(ImportJob, job_id, populate_existing=True)
    if job is None or job.finished_at is None:
        session.rollback()
        return []
    subscriptions = session.exec(
        select(Subscription).where(Subscription.workspace_id == job.workspace_id)
    ).all()
    event = job_event(session, job, base_url=base_url) if subscriptions else None
    if event is None:
        session.rollback()
        return []
    event_type, key, data = event
    wanted = [s.id for s in subscriptions if s.id is not None and event_type in s.events]
    # End the read before writing (SQLite cannot upgrade a stale read transaction).
    session.rollback()
    begin_write(session)
    created: list[int] = []
    for subscription_id in wanted:
        delivery_key = event_id(subscription_id, key)
        payload = {
            "id": delivery_key,
            "type": event_type,
            "created_at": utc_iso(now),
            "data": data,
        }
        delivery = SubscriptionDelivery(
            subscription_id=subscription_id,
            event_id=delivery_key,
            event_type=event_type,
            payload=payload,
            next_attempt_at=now,
            created_at=now,
        )
        try:
            with session.begin_nested():
                session.add(delivery)
                session.flush()
        except IntegrityError:
            continue  # emitted before
        assert delivery.id is not None
        created.append(delivery.id)
    session.commit()
    return created


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """``retry_in_s`` is set when another attempt must be scheduled (after the commit)."""

    status: DeliveryStatus | None  # None: nothing was attempted (claimed elsewhere, or gone)
    status_code: int | None = None
    retry_in_s: float | None = None


def _claim(session: Session, delivery_id: int, attempt: int) -> bool:
    table = SubscriptionDelivery.__table__  # type: ignore[attr-defined]
    result = session.connection().execute(
        sa.update(table)
        .where(
            table.c.id == delivery_id,
            table.c.status == DeliveryStatus.PENDING,
            table.c.attempts == attempt - 1,
        )
        .values(attempts=attempt)
    )
    return bool(result.rowcount)


def attempt_delivery(
    session: Session,
    delivery_id: int,
    attempt: int,
    *,
    client: httpx.Client,
    policy: EgressPolicy,
    box: SecretBox,
    window_s: int,
    now: Callable[[], datetime],
    retry: RetryPolicy = DELIVERY_RETRY,
    rand: Callable[[], float] = random.random,
) -> AttemptResult:
    """Make attempt ``attempt`` (1-based) of a delivery, record it, and say what comes next.

    Runs at most once per (delivery, attempt): the attempt is claimed and committed before the
    call, so a duplicate task finds it taken. Answers 2xx deliver; anything else, a network
    error or an unresolvable host is retried until ``window_s`` after the event; a URL the
    egress guard refuses fails at once.
    """
    if not _claim(session, delivery_id, attempt):
        session.rollback()
        return AttemptResult(None)
    delivery = session.get(SubscriptionDelivery, delivery_id, populate_existing=True)
    subscription = session.get(Subscription, delivery.subscription_id) if delivery else None
    if delivery is None or subscription is None:
        session.rollback()
        return AttemptResult(None)
    created_at = delivery.created_at
    session.commit()

    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    sent_at = now()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.SIGNATURE_HEADER: signing.sign(
            box.open(subscription.secret), body, int(sent_at.timestamp())
        ),
        signing.DELIVERY_HEADER: delivery.event_id,
        signing.EVENT_HEADER: delivery.event_type,
    }
    status_code: int | None = None
    error: str | None = None
    refused = False
    told: RateLimitedError | None = None  # the receiver's Retry-After (429, 503)
    started = time.perf_counter()
    try:
        response = post(client, subscription.url, content=body, headers=headers, policy=policy)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
        wait = retry_after_seconds(response.headers, sent_at.timestamp())
        if status_code in (429, 503) and wait is not None:
            told = RateLimitedError(error or "", retry_after=wait, status=status_code)
    except EgressRefused as exc:
        error = f"refused: {exc}"[:_ERROR_CHARS]
        refused = exc.reason != "dns_failure"
    except httpx.HTTPError as exc:
        error = (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:_ERROR_CHARS]
    duration_ms = int((time.perf_counter() - started) * 1000)

    finished = now()
    table = SubscriptionDelivery.__table__  # type: ignore[attr-defined]
    values: dict[str, Any] = {"last_status_code": status_code, "last_error": error}
    retry_in: float | None = None
    if error is None:
        status = DeliveryStatus.DELIVERED
    else:
        delay = retry.delay(attempt - 1, told, rand)
        deadline = created_at + timedelta(seconds=window_s)
        late = finished + timedelta(seconds=delay) > deadline
        if refused or late or retry.gives_up(attempt - 1):
            status = DeliveryStatus.FAILED
        else:
            status, retry_in = DeliveryStatus.PENDING, delay
            values["next_attempt_at"] = finished + timedelta(seconds=delay)
    if status != DeliveryStatus.PENDING:
        values.update(finished_at=finished, next_attempt_at=None)
    values["status"] = status.value
    # The write comes first in this transaction (SQLite: no stale read to upgrade).
    updated = session.connection().execute(
        sa.update(table)
        .where(table.c.id == delivery_id, table.c.attempts == attempt)
        .values(**values)
    )
    if not updated.rowcount:  # the subscription was deleted meanwhile
        session.rollback()
        return AttemptResult(None, status_code)
    session.connection().execute(
        sa.insert(DeliveryAttempt.__table__).values(  # type: ignore[attr-defined]
            delivery_id=delivery_id,
            number=attempt,
            attempted_at=sent_at,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
        )
    )
    session.commit()
    return AttemptResult(status, status_code, retry_in)


def due_deliveries(
    session: Session, *, now: datetime, limit: int = 1000
) -> list[tuple[int, int, datetime]]:
    """``(delivery id, next attempt number, when)`` of pending deliveries due by ``now``."""
    rows = session.exec(
        select(
            SubscriptionDelivery.id,
            SubscriptionDelivery.attempts,
            SubscriptionDelivery.next_attempt_at,
        )
        .where(
            SubscriptionDelivery.status == DeliveryStatus.PENDING,
            col(SubscriptionDelivery.next_attempt_at) <= now,
        )
        .order_by(col(SubscriptionDelivery.next_attempt_at))
        .limit(limit)
    ).all()
    return [
        (delivery_id, attempts + 1, when)
        for delivery_id, attempts, when in rows
        if delivery_id is not None and when is not None
    ]


def purge_deliveries(session: Session, *, now: datetime, retention: timedelta) -> int:
    """Delete finished deliveries (and their attempts) older than ``retention``."""
    result = session.exec(
        delete(SubscriptionDelivery).where(
            col(SubscriptionDelivery.status) != DeliveryStatus.PENDING,
            col(SubscriptionDelivery.finished_at) < now - retention,
        )
    )
    return int(result.rowcount or 0)
