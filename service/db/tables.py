"""SQLModel tables: workspaces, API keys, boards and their labels, revisions, streams, import jobs.

Heavy JSON (the normalized board, the contract result, one stream's document) lives in its own
tables so that listing boards, revisions and jobs never loads megabytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# Deterministic constraint names: Alembic revisions refer to them and `alembic check` compares them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Every timestamp column: stored in UTC, read back as an aware UTC ``datetime``.

    PostgreSQL keeps ``timestamptz`` (its answers come in the session's zone and are moved to
    UTC); SQLite keeps no zone at all and hands back naive values, which are the UTC this
    type wrote. A naive value written is refused: it could be any zone. The column DDL is
    ``DateTime(timezone=True)``'s, so the type needs no migration.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a naive datetime cannot be stored: pass an aware (UTC) one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    UNCHANGED = "unchanged"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.UNCHANGED, JobStatus.FAILED)


class JobKind(StrEnum):
    IMPORT = "import"  # a dump (uploaded now, or fetched from a provider later)
    RECLASSIFY = "reclassify"  # the latest revision's stored board with the board's rules


class BoardSource(StrEnum):
    FILE = "file"
    MIRO = "miro"
    MURAL = "mural"


class Workspace(SQLModel, table=True):
    __tablename__ = "workspace"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApiKey(SQLModel, table=True):
    """A bearer key: only its SHA-256 is stored; ``prefix`` identifies it in listings."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", ondelete="CASCADE", index=True)
    prefix: str = Field(max_length=16, unique=True)
    key_hash: str = Field(max_length=64, unique=True)
    name: str = Field(default="", max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginTicket(SQLModel, table=True):
    """A one-time browser sign-in link for an API key (``vsm serve --demo`` prints one).

    Only the SHA-256 of the ticket is stored; ``used_at`` is set by the first sign-in, in the
    same UPDATE that checks it was unset, so a second use fails even on another process.
    """

    __tablename__ = "login_ticket"

    ticket_hash: str = Field(max_length=64, primary_key=True)
    api_key_id: int = Field(foreign_key="api_key.id", ondelete="CASCADE", index=True)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Board(SQLModel, table=True):
    """A provider board inside a workspace; ``rules`` is the validated rules file, if any."""

    __tablename__ = "board"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "provider", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", ondelete="CASCADE")
    provider: str = Field(max_length=16)
    external_id: str = Field(max_length=200)
    name: str = Field(default="", max_length=500)
    source: str = Field(default=BoardSource.FILE, max_length=16)
    # Live connections (OAuth) arrive with their own table; the foreign key comes with it.
    connection_id: int | None = Field(default=None)
    rules: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    latest_revision_number: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class BoardLabel(SQLModel, table=True):
    """One ``key: value`` label of a board (``client: acme``); one value per key and board."""

    __tablename__ = "board_label"
    __table_args__ = (sa.Index("ix_board_label_key_value", "key", "value"),)

    board_id: int = Field(foreign_key="board.id", ondelete="CASCADE", primary_key=True)
    key: str = Field(max_length=50, primary_key=True)
    value: str = Field(max_length=200)


class ImportJob(SQLModel, table=True):
    """One unit of work for a worker: import a dump or reclassify the latest revision."""

    __tablename__ = "import_job"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "idempotency_key"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", ondelete="CASCADE")
    board_id: int | None = Field(
        default=None, foreign_key="board.id", ondelete="CASCADE", index=True
    )
    kind: str = Field(default=JobKind.IMPORT, max_length=16)
    status: str = Field(default=JobStatus.QUEUED, max_length=16, index=True)
    progress: int = Field(default=0)
    # What the job does now ("fetching", "reading", "classifying", "storing") and how far it
    # got; ``items_total`` is None until known (a provider tells it with the first page).
    phase: str | None = Field(default=None, max_length=16)
    items_done: int | None = Field(default=None)
    items_total: int | None = Field(default=None)
    trigger: str = Field(default="api", max_length=32)
    provider: str | None = Field(default=None, max_length=16)
    external_id: str | None = Field(default=None, max_length=200)
    board_name: str | None = Field(default=None, max_length=500)
    error: str | None = Field(default=None, max_length=2000)
    attempts: int = Field(default=0)
    idempotency_key: str | None = Field(default=None, max_length=200)
    # SHA-256 of the uploaded dump: an idempotency key reused with another body is refused.
    payload_hash: str | None = Field(default=None, max_length=64)
    revision_number: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ImportUpload(SQLModel, table=True):
    """The uploaded dump job ``job_id`` imports: a file in the upload folder (``file_name``;
    see ``service.usecases.uploads``), written completely before this row is, in the job's
    transaction; the row goes with the finished job, the file right after."""

    __tablename__ = "import_upload"

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", ondelete="CASCADE", index=True)
    job_id: int = Field(foreign_key="import_job.id", ondelete="CASCADE", unique=True)
    file_name: str = Field(max_length=64, unique=True)
    size_bytes: int = Field(default=0)
    sha256: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class Revision(SQLModel, table=True):
    """One classified state of a board. Numbers count up from 1 per board, without gaps."""

    __tablename__ = "revision"
    __table_args__ = (sa.UniqueConstraint("board_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    board_id: int = Field(foreign_key="board.id", ondelete="CASCADE")
    number: int
    # sha256 of the canonical normalized board / of the ruleset used; equal pair = unchanged
    content_hash: str = Field(max_length=64)
    rules_hash: str = Field(max_length=64)
    trigger: str = Field(max_length=32)
    # At most one revision per job, even when a redelivered job runs twice.
    import_job_id: int | None = Field(
        default=None, foreign_key="import_job.id", ondelete="SET NULL", unique=True
    )
    item_count: int = 0
    connector_count: int = 0
    stream_count: int = 0
    step_count: int = 0
    problem_count: int = 0
    unclassified_count: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RevisionContent(SQLModel, table=True):
    """The normalized board, the ruleset used and the contract v1 result of one revision."""

    __tablename__ = "revision_content"

    revision_id: int = Field(foreign_key="revision.id", ondelete="CASCADE", primary_key=True)
    board: dict[str, Any] = Field(sa_type=sa.JSON)
    ruleset: dict[str, Any] = Field(sa_type=sa.JSON)
    result: dict[str, Any] = Field(sa_type=sa.JSON)


class Stream(SQLModel, table=True):
    """A value stream of a board, stable across revisions (same contract id = same stream)."""

    __tablename__ = "stream"
    __table_args__ = (sa.UniqueConstraint("board_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    board_id: int = Field(foreign_key="board.id", ondelete="CASCADE")
    key: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RevisionStream(SQLModel, table=True):
    """A stream as it is in one revision: the contract v1 stream object, its ETag and metrics."""

    __tablename__ = "revision_stream"
    __table_args__ = (sa.UniqueConstraint("stream_id", "revision_number"),)

    revision_id: int = Field(foreign_key="revision.id", ondelete="CASCADE", primary_key=True)
    stream_id: int = Field(foreign_key="stream.id", ondelete="CASCADE", primary_key=True)
    revision_number: int
    position: int
    name: str = Field(default="", max_length=500)
    state: str = Field(max_length=16)
    step_count: int = 0
    etag: str = Field(max_length=64)
    data: dict[str, Any] = Field(sa_type=sa.JSON)
    # A copy of ``data["metrics"]``: the portfolio lists the figures of thousands of streams
    # without reading their documents (0.06 s instead of 0.28 s for 2,000, bench/portfolio.py).
    metrics: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)


class ConnectionStatus(StrEnum):
    ACTIVE = "active"
    NEEDS_REAUTH = "needs_reauth"  # the provider refused the token or its refresh


class Connection(SQLModel, table=True):
    """An OAuth grant of one provider account to a workspace; tokens are Fernet-encrypted.

    A refresh rotates both tokens: the pair is replaced in one transaction under a row lock.
    """

    __tablename__ = "connection"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "provider", "account_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", ondelete="CASCADE", index=True)
    provider: str = Field(max_length=16)
    account_id: str = Field(default="", max_length=100)  # Miro team, Mural workspace
    account_name: str = Field(default="", max_length=200)
    user_id: str = Field(default="", max_length=100)
    user_name: str = Field(default="", max_length=200)
    scopes: str = Field(default="", max_length=1000)  # space-separated
    access_token: bytes = Field(sa_type=sa.LargeBinary)
    refresh_token: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(default=ConnectionStatus.ACTIVE, max_length=16)
    status_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OAuthState(SQLModel, table=True):
    """An authorization request in flight: consumed (deleted) by its callback, single use."""

    __tablename__ = "oauth_state"

    nonce: str = Field(primary_key=True, max_length=64)
    workspace_id: int = Field(foreign_key="workspace.id", ondelete="CASCADE")
    provider: str = Field(max_length=16)
    code_verifier: str | None = Field(default=None, max_length=128)  # PKCE providers (Mural)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class BoardSyncStatus(StrEnum):
    PENDING = "pending"  # an import from the provider is queued
    OK = "ok"
    FAILED = "failed"  # the last fetch failed; ``error`` says why
    NEEDS_REAUTH = "needs_reauth"  # its connection must be authorized again
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"


class BoardSync(SQLModel, table=True):
    """How a live board follows its provider: the connection, the last seen change, when next."""

    __tablename__ = "board_sync"

    board_id: int = Field(foreign_key="board.id", ondelete="CASCADE", primary_key=True)
    connection_id: int | None = Field(
        default=None, foreign_key="connection.id", ondelete="SET NULL", index=True
    )
    status: str = Field(default=BoardSyncStatus.PENDING, max_length=16)
    error: str | None = Field(default=None, max_length=2000)
    remote_modified_at: str | None = Field(default=None, max_length=64)
    last_checked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_check_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    last_import_job_id: int | None = Field(default=None)
