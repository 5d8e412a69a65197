"""Request and response bodies of the REST API: `<Thing>Public`, `<Thing>Create`, `Page[T]`."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from service.domain.utc import utc_iso

T = TypeVar("T")

ContractStream = dict[str, Any]


S = TypeVar("S")


def served_as(public: type[S], value: Any, **more: Any) -> S:
    """The core's dataclass ``value`` as ``public``: a pydantic dataclass subclassing its type
    that re-declares how some fields are served (and may add ``more``). One definition of the
    fields serves the core and the API."""
    fields = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    return public(**fields, **more)


class _Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    @field_serializer("*", when_used="json", check_fields=False)
    def _utc(self, value: Any) -> Any:
        return utc_iso(value) if isinstance(value, datetime) else value


class Page(BaseModel, Generic[T]):
    """One page of a list. Pass ``next_cursor`` as ``cursor`` for the next page; null = last."""

    items: list[T]
    limit: int
    next_cursor: str | None = None


class ImportJobPublic(_Public):
    id: int
    status: Literal["queued", "running", "succeeded", "unchanged", "failed"]
    kind: Literal["import", "reclassify"]
    progress: int = Field(description="0 to 100")
    phase: str | None = Field(
        default=None,
        description="What the job does now: `fetching`, `reading`, `classifying`, `storing`, "
        "`done` (null while queued).",
        examples=["fetching"],
    )
    items_done: int | None = Field(
        default=None, description="Board items fetched or read so far.", examples=[3200]
    )
    items_total: int | None = Field(
        default=None, description="Board items in all, once known.", examples=[15147]
    )
    progress_text: str = Field(
        default="queued",
        description="The progress as people read it.",
        examples=["fetching 3,200/15,147 items"],
    )
    trigger: str
    board_id: int | None = Field(description="Known once the job has run (or for reclassify).")
    provider: str | None
    external_id: str | None
    board_name: str | None
    revision: int | None = Field(
        description="The revision the job created, or the unchanged latest one."
    )
    error: str | None = Field(description="Why the job failed (status `failed`).")
    account: dict[str, Any] | None = Field(
        default=None,
        description="What became of every board item read (the contract's `account`, "
        "schema/contract-v1.json), once the job has a revision; only on `GET /imports/{id}`.",
    )
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class BoardPublic(_Public):
    id: int
    provider: str
    external_id: str
    name: str
    source: str
    latest_revision: int | None
    has_rules: bool
    created_at: datetime
    updated_at: datetime


class RevisionPublic(_Public):
    number: int
    board_id: int
    trigger: str
    content_hash: str
    rules_hash: str
    item_count: int
    connector_count: int
    stream_count: int
    step_count: int
    problem_count: int
    unclassified_count: int
    import_job_id: int | None
    created_at: datetime


class RevisionDetailPublic(RevisionPublic):
    """A revision with the ruleset that classified it (the full rules file, defaults included)
    and what normalization tolerated on the way (``import_stats``)."""

    ruleset: dict[str, Any]
    import_stats: dict[str, Any]
    account: dict[str, Any] | None = Field(
        default=None,
        description="What became of every board item read: used by role, skipped with the "
        "reason, malformed with the field, warnings (the contract's `account`); null for "
        "revisions made before it existed.",
    )
    warnings: list[dict[str, Any]] = Field(
        default_factory=list,
        description="What the reader could not make sense of, with the items and what to change "
        "(contract v1 `warnings`; [] for revisions stored before it existed).",
    )


class StreamPublic(BaseModel):
    """One value stream as of one revision. ``stream`` is the contract v1 stream object
    (schema/contract-v1.json): steps, lanes, problems, ideas, metrics."""

    id: int = Field(
        description="The API's id of the stream, stable across revisions (the same stream on a "
        "later import keeps it); the contract's own id is `stream.id` (= `key`)."
    )
    board_id: int = Field(description="The board the stream is on.")
    revision: int = Field(description="The board revision this copy of the stream is from.")
    key: str = Field(description="The stream's id inside the contract document (`stream.id`).")
    schema_version: Literal[1] = Field(default=1, description="The output contract's version.")
    stream: ContractStream = Field(
        description="The contract v1 stream object, unchanged (schema/contract-v1.json)."
    )


def stream_json(
    stream_id: int, board_id: int, revision: int, key: str, document: str | bytes
) -> bytes:
    """``StreamPublic`` JSON assembled around the stored document (valid JSON, written by the
    worker): no parse and no re-serialization of the document."""
    head = (
        f'{{"id":{stream_id},"board_id":{board_id},"revision":{revision},'
        f'"key":{json.dumps(key)},"schema_version":1,"stream":'
    )
    return b"".join(
        (head.encode(), document.encode() if isinstance(document, str) else document, b"}")
    )


def stream_page(items: list[bytes], limit: int, following: str | None) -> bytes:
    """``Page[StreamPublic]`` JSON around the streams' JSON from ``stream_json``."""
    return b'{"items":[%s],"limit":%d,"next_cursor":%s}' % (
        b",".join(items),
        limit,
        json.dumps(following).encode(),
    )


class RankedProblem(BaseModel):
    rank: int
    stream_id: int
    stream_name: str
    step_id: str | None
    step_title: str | None
    id: str
    text: str
    weight: float | int


class StreamMetricsPublic(BaseModel):
    stream_id: int
    key: str
    name: str
    state: str
    metrics: dict[str, Any]


class ReportPublic(BaseModel):
    """Metrics per stream, all problems ranked by weight, and the current-vs-target comparison."""

    board_id: int
    revision: int
    created_at: datetime
    streams: list[StreamMetricsPublic]
    problems: list[RankedProblem]
    comparison: dict[str, Any] | None
    unclassified_count: int
    warnings: list[dict[str, Any]] = Field(
        default_factory=list,
        description="What the reader could not make sense of (contract v1 `warnings`).",
    )

    @field_serializer("created_at", when_used="json")
    def _utc(self, value: datetime) -> str:
        return utc_iso(value)


class RulesPublic(BaseModel):
    board_id: int
    rules: dict[str, Any] | None = Field(description="The rules file in force; null = defaults.")


class ClassifyCreate(BaseModel):
    """A dump to preview, with an optional rules file (the same shape as ``PUT .../rules``)."""

    model_config = ConfigDict(extra="forbid")

    dump: dict[str, Any]
    rules: dict[str, Any] | None = None
