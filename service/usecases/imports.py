"""Import jobs: submit a dump or a reclassification, and run a job into exactly one revision.

A job runs at least once (Celery redelivers after a crash, the embedded worker re-queues
unfinished jobs on start). Running it again is harmless: a finished job is left alone, the
revision is written in one transaction together with the job's final status, and the unique
constraints on ``revision(board_id, number)`` and ``revision(import_job_id)`` turn a concurrent
duplicate into a rollback that finds the job finished.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlmodel import Session, and_, col, func, or_, select
from sqlmodel.sql.expression import SelectOfScalar

from connectors.dump import load_dump, read_dump_bytes
from connectors.errors import ConnectorError, DumpError, RateLimitedError, TransientError
from connectors.http import RetryPolicy
from service.db.engine import EncodedJSON, begin_write
from service.db.tables import (
    Board,
    BoardSource,
    ImportJob,
    JobKind,
    JobStatus,
    Revision,
    RevisionContent,
    RevisionStream,
    Stream,
    utcnow,
)
from service.domain.account import malformed_error
from service.domain.board import Board as BoardModel
from service.domain.digitize import digitize
from service.domain.ruleset import Ruleset
from service.domain.serialize import BoardFormatError, board_from_dict, board_to_dict
from service.rules_file import RulesError, parse_rules, ruleset_to_dict
from service.usecases.errors import ConflictError, IdempotencyKeyReused, TooManyActiveError
from service.usecases.uploads import (
    StoredUpload,
    UploadFolder,
    attach_upload,
    delete_job_upload,
    job_upload_name,
)

log = structlog.get_logger(__name__)

IMPORT_TASK = "imports.run"
# A job still ``queued`` this long after it was stored is handed over again by the sweep: its
# publish failed (broker down) or the message was lost. Handing over twice is harmless.
QUEUED_REPUBLISH_AFTER = timedelta(minutes=2)
_REPUBLISH_BATCH = 500
# Retry-After hint when a workspace has too many active imports: about one import's time.
ACTIVE_RETRY_AFTER_S = 10
"""The dispatcher's name of :func:`run_import_job` (published after the job row is committed)."""
MAX_EXTERNAL_ID = 200
MAX_NAME = 500
MAX_ERROR = 2000
# Conflicting writers (a duplicate delivery, SQLite's single writer) retry the final write,
# after a short jittered wait so that they do not collide again in step.
STORE_RETRY = RetryPolicy(max_tries=5, base_delay=0.05, max_delay=1.0)


class JobFailure(Exception):
    """The job cannot succeed as submitted (bad dump, bad stored rules); the reason is shown."""


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_HASH_SLICE = 1 << 20


def canonical_sha256(value: Any) -> str:
    """``sha256_hex(canonical_json(value))`` without the encoded copy of the whole text: a big
    board's canonical JSON is hashed a megabyte of characters at a time."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256()
    for start in range(0, len(text), _HASH_SLICE):
        digest.update(text[start : start + _HASH_SLICE].encode())
    return digest.hexdigest()


class _Named(Protocol):
    """What names a job's board: a parsed board, or what a stored one kept of it."""

    @property
    def provider(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...


def _check_identity(board: BoardModel) -> None:
    if not board.id or len(board.id) > MAX_EXTERNAL_ID:
        raise DumpError(f"the board id must have 1 to {MAX_EXTERNAL_ID} characters")


def parse_dump(data: object) -> BoardModel:
    """Normalize a decoded dump; raises ``DumpError`` when it is not a usable dump."""
    board = load_dump(data)
    _check_identity(board)
    return board


def submit_import(
    session: Session,
    uploads: UploadFolder,
    workspace_id: int,
    raw: bytes,
    board: BoardModel | None = None,
    *,
    trigger: str = "api",
    idempotency_key: str | None = None,
    max_active: int | None = None,
) -> tuple[ImportJob, bool]:
    """Store the dump ``raw`` and queue its import: :func:`submit_upload` for bytes already in
    memory (a live fetch, the web form, the demo), written to ``uploads``. ``board``, when
    the caller parsed it already, names the job's board before the worker runs. Flushes, never
    commits: a caller that does not commit leaves a file the sweep deletes."""
    digest = sha256_hex(raw)  # taken once: the replay check and the stored upload share it
    existing = _replayed(session, workspace_id, idempotency_key, digest)
    if existing is not None:
        return existing, False
    upload = uploads.store(raw, sha256=digest)
    try:
        job, created = submit_upload(
            session,
            workspace_id,
            upload,
            board,
            trigger=trigger,
            idempotency_key=idempotency_key,
            max_active=max_active,
        )
    except BaseException:
        uploads.delete(upload.name)
        raise
    if not created:
        uploads.delete(upload.name)
    return job, created


def check_active_imports(session: Session, workspace_id: int, max_active: int) -> None:
    """Raise ``TooManyActiveError`` when the workspace has ``max_active`` jobs queued or
    running (fairness: one workspace cannot fill the queue for all)."""
    active = session.exec(
        select(func.count())
        .select_from(ImportJob)
        .where(
            ImportJob.workspace_id == workspace_id,
            col(ImportJob.status).in_([JobStatus.QUEUED, JobStatus.RUNNING]),
        )
    ).one()
    if active >= max_active:
        raise TooManyActiveError(
            f"the workspace has {active} imports queued or running (at most {max_active})",
            retry_after_s=ACTIVE_RETRY_AFTER_S,
        )


def submit_upload(
    session: Session,
    workspace_id: int,
    upload: StoredUpload,
    board: BoardModel | None = None,
    *,
    trigger: str = "api",
    idempotency_key: str | None = None,
    max_active: int | None = None,
) -> tuple[ImportJob, bool]:
    """Queue an import of the stored ``upload``; the worker parses it (a dump that does not
    parse fails the job with the reason, the board's revisions untouched).

    Returns ``(job, created)``; with an ``idempotency_key`` seen before in this workspace the
    earlier job comes back with ``created`` False, and the caller deletes the upload's file
    (as when this raises). With ``max_active``, raises ``TooManyActiveError`` (see
    :func:`check_active_imports`). The job row and the row naming its upload are written
    together: flushes, never commits; the caller commits, then publishes the job id (the
    committed ``queued`` row is the outbox record).
    """
    existing = _replayed(session, workspace_id, idempotency_key, upload.sha256)
    if existing is not None:
        return existing, False
    if max_active is not None:
        check_active_imports(session, workspace_id, max_active)
    job = ImportJob(
        workspace_id=workspace_id,
        kind=JobKind.IMPORT,
        trigger=trigger,
        idempotency_key=idempotency_key,
        payload_hash=upload.sha256,
    )
    if board is not None:
        _name_job(session, job, board)
    try:
        with session.begin_nested():
            session.add(job)
            session.flush()
            assert job.id is not None
            attach_upload(session, workspace_id, job.id, upload)
    except IntegrityError:
        # The same idempotency key raced us; its job is the answer.
        earlier = _replayed(session, workspace_id, idempotency_key, upload.sha256)
        if earlier is None:
            raise
        return earlier, False
    return job, True


def _replayed(
    session: Session, workspace_id: int, key: str | None, payload_hash: str | None
) -> ImportJob | None:
    """The earlier job of ``key`` (None without a key or a job); refuses another body (the
    upload of a request with a key is hashed)."""
    if key is None:
        return None
    if payload_hash is None:
        raise ValueError("an upload sent with an idempotency key must be hashed")
    existing = _job_by_idempotency_key(session, workspace_id, key)
    if existing is not None:
        _same_body_or_refuse(existing, key, payload_hash)
    return existing


def _name_job(session: Session, job: ImportJob, board: _Named) -> None:
    """Name the job's board (provider, id, name; the row once it exists) from its dump."""
    job.provider = board.provider
    job.external_id = board.id
    job.board_name = board.name[:MAX_NAME]
    if job.board_id is None:
        job.board_id = session.exec(
            select(Board.id).where(
                Board.workspace_id == job.workspace_id,
                Board.provider == board.provider,
                Board.external_id == board.id,
            )
        ).first()


FETCHING = "fetching"


def open_fetch_job(session: Session, board: Board, trigger: str) -> ImportJob:
    """The import job of a live board's provider fetch, ``running`` in phase ``fetching`` from
    the start, so the fetch's progress shows on it (``GET /v1/imports/{id}``, the web page).

    A job still fetching for this board (a retry after a rate limit or a blip) is taken up
    again rather than doubled. Flushes, never commits. ``attach_fetched_dump`` completes it.
    """
    assert board.id is not None
    earlier = session.exec(
        select(ImportJob)
        .where(
            ImportJob.board_id == board.id,
            ImportJob.status == JobStatus.RUNNING,
            ImportJob.phase == FETCHING,
        )
        .order_by(col(ImportJob.id).desc())
    ).first()
    if earlier is not None:
        return earlier
    job = ImportJob(
        workspace_id=board.workspace_id,
        board_id=board.id,
        kind=JobKind.IMPORT,
        status=JobStatus.RUNNING,
        phase=FETCHING,
        trigger=trigger,
        provider=board.provider,
        external_id=board.external_id,
        board_name=board.name[:MAX_NAME],
        started_at=utcnow(),
    )
    session.add(job)
    session.flush()
    return job


def attach_fetched_dump(
    session: Session,
    uploads: UploadFolder,
    job_id: int,
    workspace_id: int,
    raw: bytes,
    board: BoardModel,
    trigger: str,
) -> ImportJob:
    """Give the fetching job ``job_id`` its dump and queue it; returns the job to hand over.

    When that job is no longer fetching (a duplicate delivery completed it, or it was failed
    meanwhile), a new job is submitted instead. Flushes, never commits.
    """
    job = session.exec(_locked_job(job_id)).first()
    if job is None or job.status != JobStatus.RUNNING or job.phase != FETCHING:
        return submit_import(session, uploads, workspace_id, raw, board, trigger=trigger)[0]
    job.status = JobStatus.QUEUED
    job.board_name = board.name[:MAX_NAME]
    upload = uploads.store(raw)
    try:
        job.payload_hash = upload.sha256
        session.add(job)
        attach_upload(session, workspace_id, job_id, upload)
    except BaseException:
        uploads.delete(upload.name)
        raise
    return job


def _same_body_or_refuse(job: ImportJob, key: str, payload_hash: str) -> None:
    """Raise ``IdempotencyKeyReused`` when ``job`` was submitted with another body."""
    if job.payload_hash is not None and job.payload_hash != payload_hash:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {key[:80]!r} was first used for another body (import job "
            f"{job.id}, board {(job.board_name or job.external_id or '')[:80]!r}); "
            "send a new key for a new upload"
        )


def _job_by_idempotency_key(session: Session, workspace_id: int, key: str) -> ImportJob | None:
    return session.exec(
        select(ImportJob).where(
            ImportJob.workspace_id == workspace_id, ImportJob.idempotency_key == key
        )
    ).first()


def submit_reclassify(
    session: Session, board: Board, rules: Mapping[str, Any] | None, *, trigger: str = "rules"
) -> ImportJob:
    """Store ``rules`` (already validated) on ``board`` and queue a reclassification of its
    latest revision. Raises ``ConflictError`` when the board has no revision yet. Flushes only."""
    if board.latest_revision_number is None:
        raise ConflictError("the board has no revision to reclassify yet")
    board.rules = dict(rules) if rules is not None else None
    board.updated_at = utcnow()
    session.add(board)
    job = ImportJob(
        workspace_id=board.workspace_id,
        board_id=board.id,
        kind=JobKind.RECLASSIFY,
        trigger=trigger,
        provider=board.provider,
        external_id=board.external_id,
        board_name=board.name,
    )
    session.add(job)
    session.flush()
    return job


def ruleset_for(rules: Mapping[str, Any] | None) -> Ruleset:
    """The ruleset of a board's stored rules file (defaults when it has none)."""
    if rules is None:
        return Ruleset()
    try:
        return parse_rules(dict(rules))
    except RulesError as exc:
        raise JobFailure(f"the board's rules are invalid: {exc}") from exc


@dataclass(frozen=True, slots=True)
class _Stored:
    """What the store needs of the parsed board, which is freed before the write."""

    provider: str
    id: str
    name: str
    item_count: int
    connector_count: int

    @classmethod
    def of(cls, board: BoardModel) -> _Stored:
        return cls(board.provider, board.id, board.name, len(board.items), len(board.connectors))


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A classified board ready to store: the board and the contract result as their stored
    JSON texts, the hashes that decide ``unchanged``, the ruleset used, the result's streams
    (a row each) and the count of unclassified items."""

    board: _Stored
    board_json: EncodedJSON
    content_hash: str
    ruleset_dict: dict[str, Any]
    rules_hash: str
    result_json: EncodedJSON
    streams: list[dict[str, Any]]
    unclassified_count: int


def _encode_board(board_dict: dict[str, Any]) -> tuple[EncodedJSON, str]:
    """The stored text of ``board_dict`` (what the JSON column makes of a dict:
    ``json.dumps``) and its content hash, one text at a time."""
    content_hash = canonical_sha256(board_dict)
    return EncodedJSON(json.dumps(board_dict)), content_hash


def _outcome(
    board: _Stored,
    board_json: EncodedJSON,
    content_hash: str,
    ruleset: Ruleset,
    result: dict[str, Any],
) -> _Outcome:
    """The outcome, ``result`` encoded as its stored text: only its streams stay dicts."""
    ruleset_dict = ruleset_to_dict(ruleset)
    return _Outcome(
        board=board,
        board_json=board_json,
        content_hash=content_hash,
        ruleset_dict=ruleset_dict,
        rules_hash=sha256_hex(canonical_json(ruleset_dict)),
        result_json=EncodedJSON(json.dumps(result)),
        streams=list(result.get("streams") or []),
        unclassified_count=len(result.get("unclassified") or []),
    )


def _load_source(
    session: Session, uploads: UploadFolder, job: ImportJob
) -> tuple[BoardModel, Board | None]:
    """The normalized board the job works on, and its board row when that exists already."""
    if job.kind == JobKind.RECLASSIFY:
        board_row = session.get(Board, job.board_id) if job.board_id is not None else None
        if board_row is None or board_row.latest_revision_number is None:
            raise JobFailure("the board has no revision to reclassify")
        content = session.exec(
            select(RevisionContent)
            .join(Revision, col(Revision.id) == col(RevisionContent.revision_id))
            .where(
                Revision.board_id == board_row.id,
                Revision.number == board_row.latest_revision_number,
            )
        ).first()
        if content is None:
            raise JobFailure("the latest revision has no stored board")
        try:
            return board_from_dict(content.board), board_row
        except BoardFormatError as exc:
            raise JobFailure(f"the stored board cannot be read: {exc}") from exc
    assert job.id is not None
    name = job_upload_name(session, job.id)
    if name is None:  # an unfinished job has its upload unless it is a fetch that never ended
        raise JobFailure("the fetch from the provider did not finish; the next check fetches again")
    raw = uploads.read(name)
    if raw is None:
        # The worker does not see the file the API wrote: most likely API and workers run on
        # hosts that do not share the upload folder. The operator's line names the folder.
        log.warning("upload_file_missing", job_id=job.id, upload_dir=str(uploads.path))
        raise JobFailure(
            "the uploaded dump is not in the upload folder the worker reads; send it again "
            "(operators: every API process and worker must share VSM_UPLOAD_DIR)"
        )
    board = read_dump_bytes(raw, what="the uploaded dump")
    del raw
    _check_identity(board)
    board_row = session.exec(
        select(Board).where(
            Board.workspace_id == job.workspace_id,
            Board.provider == board.provider,
            Board.external_id == board.id,
        )
    ).first()
    return board, board_row


def run_import_job(session: Session, uploads: UploadFolder, job_id: int) -> ImportJob | None:
    """Run job ``job_id`` to a final status; None when the job does not exist.

    Commits twice: once to show the job ``running``, once for the result (the revision and the
    final status together). ``TransientError``, ``RateLimitedError`` and the database's
    ``OperationalError``/``InterfaceError`` (connection lost) propagate with the job left
    ``running`` so the caller can retry; every other failure marks the job ``failed`` and
    leaves the board's revisions untouched.
    """
    begin_write(session)
    job = session.get(ImportJob, job_id)
    if job is None:
        log.warning("import_job_missing", job_id=job_id)
        return None
    if JobStatus(job.status).finished:
        log.info("import_job_already_finished", job_id=job_id, status=job.status)
        return job
    job.status = JobStatus.RUNNING
    job.attempts += 1
    job.started_at = job.started_at or utcnow()
    job.progress = max(job.progress, 10)  # a fetched board keeps what its fetch reached
    job.phase = "reading"
    session.add(job)
    session.commit()
    log.info("import_job_started", job_id=job_id, kind=job.kind, attempt=job.attempts)

    try:
        board, board_row = _load_source(session, uploads, job)
        ruleset = ruleset_for(board_row.rules if board_row else None)
        session.commit()  # ends the read so the progress note below starts a writer
        note_progress(session, job_id, "classifying", len(board.items), len(board.items), 40)
        result = digitize(board, ruleset)
        refused = malformed_error(result["account"], ruleset.max_malformed_share)
        if refused is not None:
            raise JobFailure(refused)  # the previous revision stays current
        note_progress(session, job_id, "storing", len(board.items), len(board.items), 80)
        # The store's peak memory (issue 16): the parsed board goes as soon as its dict is made,
        # the dict as soon as its text is; the database copies the text (twice on SQLite).
        board_dict = board_to_dict(board)
        stored = _Stored.of(board)
        del board
        board_json, content_hash = _encode_board(board_dict)
        del board_dict
        outcome = _outcome(stored, board_json, content_hash, ruleset, result)
        del board_json, result
    except (TransientError, RateLimitedError, OperationalError, InterfaceError):
        # A provider's blip or a lost database connection (restart, failover, terminated
        # backend) says nothing about the job: left ``running`` for the caller's retry.
        session.rollback()
        raise
    except (JobFailure, ConnectorError) as exc:
        session.rollback()
        return fail_import_job(session, uploads, job_id, str(exc))
    except Exception as exc:
        session.rollback()
        log.exception("import_job_crashed", job_id=job_id)
        return fail_import_job(session, uploads, job_id, f"internal error ({type(exc).__name__})")

    session.commit()  # ends the read transaction (nothing to write) so the store starts fresh

    def conflict(tries: int, exc: Exception, seconds: float) -> None:
        log.info(
            "import_job_store_conflict",
            job_id=job_id,
            attempt=tries,
            error=type(exc).__name__,
            seconds=round(seconds, 3),
        )

    retrying = STORE_RETRY.retrying(
        lambda exc: isinstance(exc, IntegrityError | OperationalError), on_retry=conflict
    )
    for attempt in retrying:
        with attempt:
            return _store_once(session, uploads, job_id, outcome)
    raise AssertionError("unreachable: stamina re-raises the last conflict")


def _store_once(
    session: Session, uploads: UploadFolder, job_id: int, outcome: _Outcome
) -> ImportJob | None:
    """One try of the final write: a write conflict propagates (rolled back) for a retry; any
    other failure ends the job ``failed``."""
    try:
        return _store(session, uploads, job_id, outcome)
    except JobFailure as exc:
        session.rollback()
        return fail_import_job(session, uploads, job_id, str(exc))
    except (IntegrityError, OperationalError):
        session.rollback()  # also ends the transaction, so the next try begins a writer
        raise
    except Exception as exc:
        # Anything else (a value the database refuses, a bug) would fail the same way on every
        # re-run: end the job ``failed`` now instead of leaving it ``running``, where a
        # restarted worker would pick it up and crash on it again.
        session.rollback()
        log.exception("import_job_store_crashed", job_id=job_id)
        return fail_import_job(session, uploads, job_id, f"internal error ({type(exc).__name__})")


def _locked_job(job_id: int) -> SelectOfScalar[ImportJob]:
    """The job row, locked (PostgreSQL) and read afresh: the session may hold the job as it was
    before another delivery finished it, and deciding on that stale status rewrote a finished
    job (``succeeded`` became ``unchanged``)."""
    return (
        select(ImportJob)
        .where(ImportJob.id == job_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def note_progress(
    session: Session,
    job_id: int,
    phase: str,
    done: int | None,
    total: int | None,
    percent: int,
) -> None:
    """Show what a running job does now (``GET /v1/imports/{id}``, the web page) and commit.

    Only a job still ``running`` is touched: a duplicate delivery that finished it meanwhile
    keeps its final state."""
    begin_write(session)
    job = session.get(ImportJob, job_id)
    if job is not None and job.status == JobStatus.RUNNING:
        job.phase = phase
        job.items_done = done
        job.items_total = total
        job.progress = max(job.progress, percent)
        session.add(job)
    session.commit()


def fail_import_job(
    session: Session, uploads: UploadFolder, job_id: int, reason: str
) -> ImportJob | None:
    """Mark the job failed with ``reason`` (unless it finished meanwhile), commit, and delete
    its upload."""
    begin_write(session)
    job = session.exec(_locked_job(job_id)).first()
    if job is None:
        return None
    upload = None
    if not JobStatus(job.status).finished:
        job.status = JobStatus.FAILED
        job.error = reason[:MAX_ERROR]
        job.finished_at = utcnow()
        session.add(job)
        upload = delete_job_upload(session, job_id)
        log.info("import_job_failed", job_id=job_id, reason=job.error)
    session.commit()
    if upload is not None:
        uploads.delete(upload)
    return job


def _store(session: Session, uploads: UploadFolder, job_id: int, outcome: _Outcome) -> ImportJob:
    """Write the revision (or note ``unchanged``) and finish the job, in one transaction."""
    begin_write(session)
    job = session.exec(_locked_job(job_id)).one()
    if JobStatus(job.status).finished:
        # A duplicate delivery finished it while we were classifying. Commit (nothing was
        # written) rather than roll back: a rollback would expire the job handed back.
        session.commit()
        return job
    board = outcome.board
    board_row = _lock_or_create_board(session, job, board)
    assert board_row.id is not None

    content_hash, rules_hash = outcome.content_hash, outcome.rules_hash
    latest = session.exec(
        select(Revision)
        .where(Revision.board_id == board_row.id)
        .order_by(col(Revision.number).desc())
        .limit(1)
    ).first()

    job.board_id = board_row.id
    job.finished_at = utcnow()
    job.progress = 100
    job.phase = "done"
    if latest and latest.content_hash == content_hash and latest.rules_hash == rules_hash:
        job.status = JobStatus.UNCHANGED
        job.revision_number = latest.number
    else:
        number = (latest.number if latest else 0) + 1
        _insert_revision(session, job, board_row, number, outcome)
        job.status = JobStatus.SUCCEEDED
        job.revision_number = number
        board_row.latest_revision_number = number
        board_row.name = board.name[:MAX_NAME]
        board_row.updated_at = utcnow()
        session.add(board_row)
    _name_job(session, job, board)
    session.add(job)
    upload = delete_job_upload(session, job_id)
    session.commit()
    if upload is not None:
        uploads.delete(upload)
    log.info(
        "import_job_finished",
        job_id=job_id,
        status=job.status,
        board_id=board_row.id,
        revision=job.revision_number,
    )
    return job


def _lock_or_create_board(session: Session, job: ImportJob, board: _Named) -> Board:
    """The job's board row, locked for this transaction (PostgreSQL) so revision numbers are
    assigned one writer at a time; created on the first import."""
    # NO KEY UPDATE: serializes revision writers without blocking inserts that reference the
    # board (new import jobs take a KEY SHARE lock for their foreign key).
    query = select(Board).with_for_update(key_share=True)
    if job.board_id is not None:
        query = query.where(Board.id == job.board_id)
    else:
        query = query.where(
            Board.workspace_id == job.workspace_id,
            Board.provider == board.provider,
            Board.external_id == board.id,
        )
    board_row = session.exec(query).first()
    if board_row is not None:
        return board_row
    if job.kind == JobKind.RECLASSIFY:
        raise JobFailure("the board was deleted")
    board_row = Board(
        workspace_id=job.workspace_id,
        provider=board.provider,
        external_id=board.id,
        name=board.name[:MAX_NAME],
        source=BoardSource.FILE,
    )
    session.add(board_row)
    session.flush()  # IntegrityError here: a concurrent first import created it; retried
    return board_row


def stream_key(contract_id: object, position: int) -> str:
    """A stream's key within its board: the contract id, hashed when absurdly long."""
    key = str(contract_id) if contract_id not in (None, "") else f"stream-{position}"
    return key if len(key) <= 200 else "sha256:" + sha256_hex(key.encode())


def _insert_revision(
    session: Session,
    job: ImportJob,
    board_row: Board,
    number: int,
    outcome: _Outcome,
) -> Revision:
    streams = outcome.streams
    board_id = board_row.id
    assert board_id is not None
    revision = Revision(
        board_id=board_id,
        number=number,
        content_hash=outcome.content_hash,
        rules_hash=outcome.rules_hash,
        trigger=job.trigger,
        import_job_id=job.id,
        item_count=outcome.board.item_count,
        connector_count=outcome.board.connector_count,
        stream_count=len(streams),
        step_count=sum(len(s.get("steps") or []) for s in streams),
        problem_count=sum(len(s.get("problems") or []) for s in streams),
        unclassified_count=outcome.unclassified_count,
    )
    session.add(revision)
    session.flush()
    assert revision.id is not None
    # A Core insert with the texts as parameters: in ``values()`` they would stay referenced by
    # the statement cache after the job; nor does the session keep an object holding them.
    session.execute(
        insert(RevisionContent),
        {
            "revision_id": revision.id,
            "board": outcome.board_json,
            "ruleset": outcome.ruleset_dict,
            "result": outcome.result_json,
        },
    )
    keys = [stream_key(s.get("id"), i) for i, s in enumerate(streams)]
    known = (
        {
            row.key: row
            for row in session.exec(
                select(Stream).where(Stream.board_id == board_row.id, col(Stream.key).in_(keys))
            ).all()
        }
        if keys
        else {}
    )
    seen: set[str] = set()
    for position, (key, stream) in enumerate(zip(keys, streams, strict=True)):
        if key in seen:  # the contract promises unique ids; a duplicate must not break the write
            continue
        seen.add(key)
        stream_row = known.get(key)
        if stream_row is None:
            stream_row = Stream(board_id=board_id, key=key)
            session.add(stream_row)
            session.flush()
        assert stream_row.id is not None
        session.add(
            RevisionStream(
                revision_id=revision.id,
                stream_id=stream_row.id,
                revision_number=number,
                position=position,
                name=str(stream.get("name") or "")[:MAX_NAME],
                state=str(stream.get("state") or "unspecified")[:16],
                step_count=len(stream.get("steps") or []),
                # The stream's own content, not the revision: an import that leaves the
                # stream as it was keeps its ETag, so clients' copies stay valid (304).
                etag=sha256_hex(canonical_json([board_row.id, key, stream])),
                data=stream,
                metrics=stream.get("metrics"),
            )
        )
    session.flush()
    return revision


def unfinished_job_ids(session: Session) -> list[int]:
    """Ids of jobs not finished yet (queued, or running when a process died), oldest first."""
    ids = session.exec(
        select(ImportJob.id)
        .where(col(ImportJob.status).in_([JobStatus.QUEUED, JobStatus.RUNNING]))
        .order_by(col(ImportJob.id))
    ).all()
    return [job_id for job_id in ids if job_id is not None]


class Publisher(Protocol):
    """The part of the dispatcher a hand-over needs (``service.dispatch.Dispatcher``)."""

    def publish(self, name: str, *args: Any, delay_s: float = 0.0) -> None: ...


def hand_over(dispatcher: Publisher, job_id: int) -> bool:
    """Publish committed job ``job_id``; False (logged) when the broker does not take it.

    The committed ``queued`` job row is the dispatch record (the outbox): a job whose publish
    failed is handed over again by :func:`republish_stale_jobs`, so a caller answers 202 with the
    job either way and never fails a request whose job is stored.
    """
    try:
        dispatcher.publish(IMPORT_TASK, job_id)
    except Exception as exc:
        log.warning("import_publish_failed", job_id=job_id, error=type(exc).__name__)
        return False
    return True


def republish_stale_jobs(
    session: Session,
    dispatcher: Publisher,
    *,
    now: datetime,
    older_than: timedelta = QUEUED_REPUBLISH_AFTER,
    running_older_than: timedelta | None = None,
) -> list[int]:
    """Hand over again the jobs ``queued`` since before ``now - older_than`` and, with
    ``running_older_than``, the jobs ``running`` since before ``now - running_older_than``
    (at most 500 per call, oldest first); returns their ids. Stops at the first failed publish
    (the broker is still down; the next sweep tries again).

    A job is left ``running`` with no message to run it when its last try failed to record the
    failure (the database was down longer than the retries); the broker would have redelivered
    an unacknowledged one by ``running_older_than`` (its visibility timeout) anyway.
    """
    stale = [
        and_(
            col(ImportJob.status) == JobStatus.QUEUED, col(ImportJob.created_at) < now - older_than
        )
    ]
    if running_older_than is not None:
        stale.append(
            and_(
                col(ImportJob.status) == JobStatus.RUNNING,
                col(ImportJob.started_at) < now - running_older_than,
            )
        )
    ids = session.exec(
        select(ImportJob.id).where(or_(*stale)).order_by(col(ImportJob.id)).limit(_REPUBLISH_BATCH)
    ).all()
    session.rollback()
    handed: list[int] = []
    for job_id in ids:
        if job_id is None:
            continue
        if not hand_over(dispatcher, job_id):
            break
        handed.append(job_id)
    if handed:
        log.info("import_jobs_republished", count=len(handed))
    return handed
