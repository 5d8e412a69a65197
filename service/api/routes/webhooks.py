"""Webhook routes: the signed board trigger, secrets, trigger log, revision diff, subscriptions.

``hooks_router`` (the trigger) and ``router`` (everything else) are listed by the app factory;
the runtime they use is built by :func:`service.bootstrap.build`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Query, Request, Response
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from service.api.deps import (
    PageDep,
    SessionDep,
    WorkspaceDep,
    keyset_page,
    read_limited_body,
    runtime_of,
)
from service.api.links import public_base_url
from service.api.problems import ProblemError, responses
from service.api.routes.boards import board_or_404, revision_number_or_404
from service.api.schemas import Page, _Public
from service.db.engine import WriterBusy, begin_write
from service.db.loop_reads import LoopReads
from service.db.tables import Revision, RevisionContent
from service.domain.contract_model import decode_contract
from service.domain.diff import DEFAULT_LIMIT, diff_revisions
from service.domain.serialize import BoardFormatError, board_from_dict
from service.domain.text import has_unstorable
from service.webhooks import signing, triggers
from service.webhooks.config import SecretBox, SecretBoxError
from service.webhooks.notify import (
    EVENT_TYPES,
    SubscriptionError,
    create_subscription,
    validate_subscription,
)
from service.webhooks.runtime import HookRuntime
from service.webhooks.tables import (
    BoardWebhook,
    DeliveryAttempt,
    HookTrigger,
    Subscription,
    SubscriptionDelivery,
)

hooks_router = APIRouter(prefix="/hooks", tags=["webhooks"])
router = APIRouter(tags=["webhooks"])

EventType = Literal["revision.created", "import.failed"]
_MAX_ATTEMPTS_SHOWN = 50


def _runtime(request: Request) -> HookRuntime:
    return runtime_of(request).hooks


def _box(runtime: HookRuntime) -> SecretBox:
    if runtime.box is None:
        raise ProblemError(
            "conflict",
            "Webhook secrets are stored encrypted: the operator must set VSM_ENCRYPTION_KEYS.",
        )
    return runtime.box


def _write_next(session: Session) -> None:
    """End the checks' read transaction and start a writing one (SQLite: BEGIN IMMEDIATE)."""
    session.rollback()
    begin_write(session)


def _now() -> datetime:
    return datetime.now(UTC)


class TriggerAccepted(BaseModel):
    board_id: int
    delivery_id: str
    outcome: Literal["accepted", "coalesced"] = Field(
        description="`accepted`: an import starts after the debounce window; `coalesced`: "
        "joined an import already pending, or the one queued after the running import."
    )
    detail: str


log = structlog.get_logger(__name__)

_PROBLEM_SLUGS = {401: "unauthorized", 409: "conflict", 413: "payload-too-large"}


def _problem(rejected: triggers.TriggerRejected) -> ProblemError:
    detail = f"{rejected.detail} ({rejected.reason})"
    if rejected.status == 400:
        return ProblemError(
            "validation-error",
            detail,
            errors=[{"field": f"header.{signing.DELIVERY_HEADER}", "message": rejected.detail}],
        )
    return ProblemError(_PROBLEM_SLUGS.get(rejected.status, "unauthorized"), detail)


def _log_rejection(
    runtime: HookRuntime,
    board_id: int,
    delivery_id: str | None,
    rejected: triggers.TriggerRejected,
    body_bytes: int,
) -> None:
    """Write the rejection to the board's trigger log (boards with a webhook only; at most
    ``REJECTIONS_LOGGED_PER_MINUTE``). Runs after the answer was sent (see ``_refuse``)."""
    with runtime.sessions() as session:
        if session.get(BoardWebhook, board_id) is None:
            return
        session.rollback()  # SQLite: write in a transaction that has read nothing yet
        if not runtime.may_log_rejection(board_id):
            return
        with runtime.writing():
            triggers.log_rejection(
                session, board_id, delivery_id, rejected, now=_now(), body_bytes=body_bytes
            )
            session.commit()


def _refuse(
    runtime: HookRuntime,
    board_id: int,
    delivery_id: str | None,
    rejected: triggers.TriggerRejected,
    body_bytes: int,
) -> ProblemError:
    """The problem answering a rejected trigger; its log entry is written after the answer.

    A board without a webhook and a board whose secret the sender does not know must look the
    same, in content and in time: the log write (only boards with a webhook have a log) would
    otherwise tell them apart by tens of milliseconds.
    """
    problem = _problem(rejected)
    problem.background = BackgroundTask(
        _log_rejection, runtime, board_id, delivery_id, rejected, body_bytes
    )
    return problem


def _secrets(
    runtime: HookRuntime, row: tuple[Any, ...] | None, board_id: int, now: datetime
) -> list[str]:
    """The secrets that verify the board's triggers (from its ``TriggerStore.secrets`` row), or
    a decoy nobody knows when the board has no webhook or its secret cannot be decrypted: the
    signature check then runs, and fails, exactly as for a wrong signature (same answer, same
    work)."""
    try:
        secrets = triggers.board_secrets(row, runtime.open_secret, now)
    except SecretBoxError:
        log.error(
            "webhook_secret_unreadable",
            board_id=board_id,
            hint="no key in VSM_ENCRYPTION_KEYS opens the board's webhook secret (was its key "
            "removed?); restore the key or rotate the board's secret",
        )
        secrets = None
    return secrets if secrets is not None else [runtime.decoy_secret]


@dataclass(frozen=True, slots=True)
class _Trigger:
    """A trigger past the checks that need no database: what recording it needs."""

    runtime: HookRuntime
    board_id: int
    header: str | None
    body: bytes
    delivery_id: str
    received: float

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.received, UTC)

    def verify(self, secrets_row: tuple[Any, ...] | None) -> None:
        """Check the signature against the board's secrets (its ``TriggerStore.secrets`` row);
        ``TriggerRejected`` when it does not match."""
        secrets = _secrets(self.runtime, secrets_row, self.board_id, self.now)
        tolerance_s = self.runtime.settings.tolerance_s
        triggers.verify_trigger(
            secrets, self.header, self.body, self.delivery_id, self.received, tolerance_s
        )

    def refused(self, rejected: triggers.TriggerRejected) -> ProblemError:
        return _refuse(self.runtime, self.board_id, self.delivery_id, rejected, len(self.body))


def _accept(trigger: _Trigger, *, now_or_never: bool) -> triggers.TriggerResult:
    """Check and record the trigger in one transaction. ``now_or_never``: on this thread
    without waiting for the database, or ``WriterBusy`` (the event loop's way, see
    ``HookRuntime.trigger_transaction_now``); else waiting as long as it takes (a worker
    thread's way)."""
    runtime = trigger.runtime
    transaction = (
        runtime.trigger_transaction_now() if now_or_never else runtime.trigger_transaction()
    )
    try:
        # One transaction per trigger: it starts as a writer (SQLite: BEGIN IMMEDIATE, so
        # the read of the secrets never has to become a write), reads the secrets, checks
        # the signature and records the trigger; a refused trigger rolls back having
        # written nothing. The check inside costs microseconds (an HMAC, a small body).
        with transaction as tx:
            trigger.verify(tx.store.secrets.first_on(tx.connection, board=trigger.board_id))
            return triggers.accept_trigger(
                tx,
                trigger.board_id,
                trigger.delivery_id,
                now=trigger.now,
                debounce_s=runtime.settings.debounce_s,
                body_bytes=len(trigger.body),
            )
    except triggers.TriggerRejected as rejected:
        raise trigger.refused(rejected) from None


async def _accept_on_loop(loop: LoopReads, trigger: _Trigger) -> triggers.TriggerResult:
    """``_accept`` on PostgreSQL, on the event loop: the same transaction, checks and answers,
    its two statements on the loop's asyncpg connections (a worker thread and psycopg cost the
    trigger about half its CPU). ``WriterBusy`` when no connection is free within the loop's
    wait: ``_accept`` on a worker thread then."""
    store, debounce_s, now = trigger.runtime.store, trigger.runtime.settings.debounce_s, trigger.now
    values = triggers.record_values(
        trigger.board_id,
        trigger.delivery_id,
        now=now,
        debounce_s=debounce_s,
        body_bytes=len(trigger.body),
    )
    try:
        async with loop.transaction() as tx:
            trigger.verify(await tx.first(store.secrets, board=trigger.board_id))
            assert store.record is not None  # PostgreSQL's one statement
            try:
                row = await tx.first(store.record, **values)
            except IntegrityError:
                raise triggers.replayed() from None
            return triggers.trigger_result(row, now=now, debounce_s=debounce_s)
    except triggers.TriggerRejected as rejected:
        raise trigger.refused(rejected) from None


def _fire(runtime: HookRuntime, board_id: int, delay_s: float) -> None:
    """Schedule the board's import (a broker publish, maybe: a worker thread's work)."""
    try:
        runtime.scheduler.fire(board_id, delay_s)
    except Exception as exc:
        # The trigger is stored (board pending with its due time, delivery id recorded, in
        # one commit): the sweep (``HookRuntime.fire_overdue``) fires the board once the
        # broker takes tasks again. Answering 5xx now would make the sender's retry a replay.
        log.warning("trigger_publish_failed", board_id=board_id, error=type(exc).__name__)


TRIGGER_PATH = "/v1/hooks/boards/{board_id}"


async def answer_trigger(
    request: Request, board_id: int, loop: LoopReads | None = None
) -> TriggerAccepted:
    """The answer to a signed trigger of ``board_id``; raises ``ProblemError`` when refused.

    The route below calls it, and so does ``service.api.hot.HotTrigger``, which answers
    the trigger before FastAPI's routing (issue 16): one implementation for both. With the
    loop's connections (``loop``, the fast path's), the trigger is recorded on the event loop
    when that needs no wait (SQLite: its write lock free; PostgreSQL: a connection free), else
    on a worker thread.
    """
    received = time.time()
    runtime = _runtime(request)
    hooks = runtime.settings
    counted = runtime_of(request).metrics.triggers
    header = request.headers.get(signing.SIGNATURE_HEADER)
    raw_delivery = request.headers.get(signing.DELIVERY_HEADER)
    try:
        body = await read_limited_body(request, hooks.max_body_bytes)
    except ProblemError:
        counted.labels("rejected").inc()
        rejected = triggers.TriggerRejected(
            "body_too_large", f"the body is larger than {hooks.max_body_bytes} bytes", 413
        )
        raise _refuse(runtime, board_id, raw_delivery, rejected, 0) from None
    try:
        delivery_id = triggers.check_delivery_id(raw_delivery)
        triggers.precheck(header, received, hooks.tolerance_s)
    except triggers.TriggerRejected as rejected:
        counted.labels("rejected").inc()
        raise _refuse(runtime, board_id, raw_delivery, rejected, len(body)) from None
    trigger = _Trigger(runtime, board_id, header, body, delivery_id, received)
    try:
        _box(runtime)
        try:
            if loop is not None and not loop.inline:
                result = await _accept_on_loop(loop, trigger)
            else:
                result = _accept(trigger, now_or_never=True)
        except WriterBusy:
            result = await run_in_threadpool(_accept, trigger, now_or_never=False)
    except ProblemError:
        counted.labels("rejected").inc()
        raise
    if result.fire_in_s is not None:
        await run_in_threadpool(_fire, runtime, board_id, result.fire_in_s)
    counted.labels(result.outcome).inc()
    return TriggerAccepted(
        board_id=board_id, delivery_id=delivery_id, outcome=result.outcome, detail=result.detail
    )


@hooks_router.post(
    "/boards/{board_id}",
    status_code=202,
    response_model=TriggerAccepted,
    responses=responses(401, 404, 409, 413, 422),
    openapi_extra={
        "security": [],
        "parameters": [
            {
                "name": signing.SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
                "description": "`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f'{t}.' + body)>`",
            },
            {
                "name": signing.DELIVERY_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string", "maxLength": triggers.MAX_DELIVERY_ID},
                "description": "A unique id per trigger; a replayed id is refused (409).",
            },
        ],
    },
)
async def trigger_board(board_id: int, request: Request) -> TriggerAccepted:
    """Re-import the board: signed with its webhook secret (see docs/webhooks.md), no API key.

    Answers 202 at once and only schedules the import: triggers within the debounce window
    make one import, and one arriving during an import makes exactly one more after it.
    """
    # The common case never gets here: service.api.hot.HotTrigger answers it before FastAPI's
    # routing, with the same function. This route documents the trigger (OpenAPI) and answers
    # what the fast path leaves to the app (a query string, an id past the id columns' range).
    return await answer_trigger(request, board_id)


class WebhookSecretCreated(BaseModel):
    board_id: int
    secret: str = Field(description="Shown once. Sign triggers with it (docs/webhooks.md).")
    trigger_url: str
    previous_secret_valid_until: datetime | None = Field(
        description="The replaced secret keeps verifying until then (null: first secret)."
    )


class WebhookPublic(_Public):
    board_id: int
    trigger_url: str
    rotated_at: datetime
    previous_secret_valid_until: datetime | None
    state: Literal["idle", "pending", "running"]
    due_at: datetime | None = Field(description="When a pending import starts.")
    follow_up_queued: bool = Field(description="One more import runs after the running one.")


@router.post(
    "/boards/{board_id}/webhook-secret",
    status_code=201,
    response_model=WebhookSecretCreated,
    responses=responses(401, 404, 409),
)
def create_webhook_secret(
    board_id: int, workspace_id: WorkspaceDep, session: SessionDep, request: Request
) -> WebhookSecretCreated:
    """Create the board's webhook secret, or rotate it: the new secret is shown once, the
    previous one keeps verifying for the overlap period (`VSM_WEBHOOKS__SECRET_OVERLAP_S`)."""
    runtime = _runtime(request)
    board_or_404(session, workspace_id, board_id)
    _write_next(session)
    secret, until = triggers.rotate_secret(
        session,
        board_id,
        _box(runtime),
        overlap_s=runtime.settings.secret_overlap_s,
        now=_now(),
    )
    session.commit()
    return WebhookSecretCreated(
        board_id=board_id,
        secret=secret,
        trigger_url=f"{public_base_url(request)}/v1/hooks/boards/{board_id}",
        previous_secret_valid_until=until,
    )


@router.get(
    "/boards/{board_id}/webhook", response_model=WebhookPublic, responses=responses(401, 404)
)
def get_webhook(
    board_id: int, workspace_id: WorkspaceDep, session: SessionDep, request: Request
) -> WebhookPublic:
    """The board's trigger: when its secret changed and whether an import is pending."""
    board_or_404(session, workspace_id, board_id)
    row = session.get(BoardWebhook, board_id)
    if row is None:
        raise ProblemError("not-found", f"Board {board_id} has no webhook.")
    return WebhookPublic(
        board_id=board_id,
        trigger_url=f"{public_base_url(request)}/v1/hooks/boards/{board_id}",
        rotated_at=row.rotated_at,
        previous_secret_valid_until=row.previous_valid_until
        if row.previous_secret is not None
        else None,
        state=row.state,
        due_at=row.due_at,
        follow_up_queued=row.dirty,
    )


@router.delete("/boards/{board_id}/webhook-secret", status_code=204, responses=responses(401, 404))
def delete_webhook_secret(
    board_id: int, workspace_id: WorkspaceDep, session: SessionDep
) -> Response:
    """Turn the board's trigger off: every signature stops verifying at once."""
    board_or_404(session, workspace_id, board_id)
    _write_next(session)
    row = session.get(BoardWebhook, board_id)
    if row is None:
        raise ProblemError("not-found", f"Board {board_id} has no webhook.")
    session.delete(row)
    session.commit()
    return Response(status_code=204)


class HookTriggerPublic(_Public):
    id: int
    delivery_id: str | None
    received_at: datetime
    outcome: Literal["accepted", "coalesced", "rejected"]
    reason: str | None = Field(description="Why a trigger was rejected (a stable code).")
    detail: str | None
    body_bytes: int


@router.get(
    "/boards/{board_id}/hooks/deliveries",
    response_model=Page[HookTriggerPublic],
    responses=responses(400, 401, 404, 422),
)
def list_hook_deliveries(
    board_id: int, workspace_id: WorkspaceDep, session: SessionDep, page: PageDep
) -> Page[HookTriggerPublic]:
    """Inbound triggers of the board and their outcome, newest first (kept
    `VSM_WEBHOOKS__LOG_RETENTION_DAYS`, default 14 days)."""
    board_or_404(session, workspace_id, board_id)
    query = select(HookTrigger).where(HookTrigger.board_id == board_id)
    rows, following = keyset_page(session, query, col(HookTrigger.id), page, newest_first=True)
    return Page(
        items=[HookTriggerPublic.model_validate(row) for row in rows],
        limit=page.limit,
        next_cursor=following,
    )


class DiffPublic(BaseModel):
    """What changed between two revisions (the same document ``vsm diff`` prints as JSON)."""

    board_id: int
    from_revision: int
    to_revision: int
    items: dict[str, Any]
    steps: dict[str, Any]
    problems: dict[str, Any]
    metrics: list[dict[str, Any]]
    counts: dict[str, Any]
    limit: int


def _content(session: Session, board_id: int, number: int) -> RevisionContent:
    content = session.exec(
        select(RevisionContent)
        .join(Revision, col(Revision.id) == col(RevisionContent.revision_id))
        .where(Revision.board_id == board_id, Revision.number == number)
    ).first()
    if content is None:
        raise ProblemError("not-found", f"Board {board_id} has no revision {number}.")
    return content


@router.get(
    "/boards/{board_id}/diff", response_model=DiffPublic, responses=responses(401, 404, 422)
)
def board_diff(
    board_id: int,
    workspace_id: WorkspaceDep,
    session: SessionDep,
    from_revision: Annotated[
        int | None, Query(alias="from", ge=1, description="Default: the one before `to`.")
    ] = None,
    to_revision: Annotated[
        int | None, Query(alias="to", ge=1, description="Default: the latest revision.")
    ] = None,
    limit: Annotated[
        int, Query(ge=0, le=5000, description="Entries per list at most; `counts` are complete.")
    ] = DEFAULT_LIMIT,
) -> DiffPublic:
    """Items added, removed and changed; steps added, removed and moved; problems added,
    removed and re-weighted; metric deltas per stream."""
    board = board_or_404(session, workspace_id, board_id)
    new = revision_number_or_404(board, to_revision)
    old = from_revision if from_revision is not None else new - 1
    if old < 1:
        raise ProblemError("not-found", f"Board {board_id} has only one revision to compare.")
    revision_number_or_404(board, old)
    old_content, new_content = _content(session, board_id, old), _content(session, board_id, new)
    try:
        old_board, new_board = (
            board_from_dict(old_content.board),
            board_from_dict(new_content.board),
        )
    except BoardFormatError as exc:
        raise ProblemError("conflict", f"A stored revision cannot be read: {exc}") from exc
    result = diff_revisions(
        old_board,
        new_board,
        decode_contract(old_content.result),
        decode_contract(new_content.result),
        limit=limit,
    )
    return DiffPublic(board_id=board_id, from_revision=old, to_revision=new, **result)


def _storable(value: str) -> str:
    if has_unstorable(value):
        raise ValueError("contains NUL or a lone surrogate, which cannot be stored")
    return value


StorableStr = Annotated[str, AfterValidator(_storable)]


class SubscriptionCreate(BaseModel):
    url: StorableStr = Field(max_length=2000, description="http(s) URL that receives the events.")
    events: list[EventType] = Field(min_length=1, max_length=len(EVENT_TYPES))
    description: StorableStr = Field(default="", max_length=200)


class SubscriptionPublic(_Public):
    id: int
    url: str
    events: list[str]
    description: str
    created_at: datetime


class SubscriptionCreated(SubscriptionPublic):
    secret: str = Field(description="Shown once: verify the Valuestream-Signature with it.")


class AttemptPublic(_Public):
    number: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryPublic(_Public):
    id: int
    event_id: str = Field(description="Sent as Valuestream-Delivery; the same on every retry.")
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None = Field(description="The next retry (status `pending`).")
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
    attempt_log: list[AttemptPublic] = Field(description="The latest attempts, newest first.")


def _subscription_or_404(session: Session, workspace_id: int, subscription_id: int) -> Subscription:
    row = session.get(Subscription, subscription_id)
    if row is None or row.workspace_id != workspace_id:
        raise ProblemError("not-found", f"No subscription {subscription_id}.")
    return row


def _subscription_public(row: Subscription) -> dict[str, Any]:
    return {
        "id": row.id,
        "url": row.url,
        "events": row.events,
        "description": row.description,
        "created_at": row.created_at,
    }


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=SubscriptionCreated,
    responses=responses(401, 422),
    tags=["subscriptions"],
)
def create_subscription_route(
    body: SubscriptionCreate, workspace_id: WorkspaceDep, session: SessionDep, request: Request
) -> SubscriptionCreated:
    """Subscribe a URL to events of this workspace; the signing secret is shown once.

    URLs resolving to loopback, private, link-local or metadata addresses are refused unless
    the operator allows them (`VSM_WEBHOOKS__ALLOW_PRIVATE_TARGETS`)."""
    runtime = _runtime(request)
    box = _box(runtime)
    try:
        validate_subscription(body.url, body.events, runtime.policy)
        _write_next(session)  # after the DNS look-ups: never hold the write lock for them
        row, secret = create_subscription(
            session,
            workspace_id,
            body.url,
            body.events,
            box,
            runtime.policy,
            description=body.description,
            validated=True,
        )
    except SubscriptionError as exc:
        raise ProblemError(
            "validation-error", str(exc), errors=[{"field": "body.url", "message": str(exc)}]
        ) from None
    session.commit()
    return SubscriptionCreated(**_subscription_public(row), secret=secret)


@router.get(
    "/subscriptions",
    response_model=Page[SubscriptionPublic],
    responses=responses(400, 401, 422),
    tags=["subscriptions"],
)
def list_subscriptions(
    workspace_id: WorkspaceDep, session: SessionDep, page: PageDep
) -> Page[SubscriptionPublic]:
    query = select(Subscription).where(Subscription.workspace_id == workspace_id)
    rows, following = keyset_page(session, query, col(Subscription.id), page)
    return Page(
        items=[SubscriptionPublic.model_validate(_subscription_public(r)) for r in rows],
        limit=page.limit,
        next_cursor=following,
    )


@router.get(
    "/subscriptions/{subscription_id}",
    response_model=SubscriptionPublic,
    responses=responses(401, 404),
    tags=["subscriptions"],
)
def get_subscription(
    subscription_id: int, workspace_id: WorkspaceDep, session: SessionDep
) -> SubscriptionPublic:
    row = _subscription_or_404(session, workspace_id, subscription_id)
    return SubscriptionPublic.model_validate(_subscription_public(row))


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=204,
    responses=responses(401, 404),
    tags=["subscriptions"],
)
def delete_subscription(
    subscription_id: int, workspace_id: WorkspaceDep, session: SessionDep
) -> Response:
    """Stop deliveries at once; pending retries are dropped with the delivery log."""
    _subscription_or_404(session, workspace_id, subscription_id)
    _write_next(session)
    session.delete(_subscription_or_404(session, workspace_id, subscription_id))
    session.commit()
    return Response(status_code=204)


@router.get(
    "/subscriptions/{subscription_id}/deliveries",
    response_model=Page[DeliveryPublic],
    responses=responses(400, 401, 404, 422),
    tags=["subscriptions"],
)
def list_deliveries(
    subscription_id: int, workspace_id: WorkspaceDep, session: SessionDep, page: PageDep
) -> Page[DeliveryPublic]:
    """The subscription's deliveries, newest first, each with its attempts."""
    _subscription_or_404(session, workspace_id, subscription_id)
    query = select(SubscriptionDelivery).where(
        SubscriptionDelivery.subscription_id == subscription_id
    )
    rows, following = keyset_page(
        session, query, col(SubscriptionDelivery.id), page, newest_first=True
    )
    attempts: dict[int, list[DeliveryAttempt]] = {}
    ids = [row.id for row in rows if row.id is not None]
    if ids:
        for attempt in session.exec(
            select(DeliveryAttempt)
            .where(col(DeliveryAttempt.delivery_id).in_(ids))
            .order_by(col(DeliveryAttempt.number).desc())
        ).all():
            shown = attempts.setdefault(attempt.delivery_id, [])
            if len(shown) < _MAX_ATTEMPTS_SHOWN:
                shown.append(attempt)
    items = [
        DeliveryPublic.model_validate(
            {
                **row.model_dump(exclude={"payload", "subscription_id"}),
                "attempt_log": [
                    AttemptPublic.model_validate(a) for a in attempts.get(row.id or 0, [])
                ],
            }
        )
        for row in rows
    ]
    return Page(items=items, limit=page.limit, next_cursor=following)
