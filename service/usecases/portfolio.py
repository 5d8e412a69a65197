"""Portfolio reads and board labels: stored revisions in, the core's values out.

Everything is read from what imports stored (each stream's contract document per revision),
scoped by workspace, and never asks a provider.

The portfolio and the trends read each stream's ``metrics`` column (a copy of the document's
metrics written with it), never the documents. The recurring problems need the documents: they
are read as text and decoded by msgspec into structs that declare only the problems and step
titles (the rest is skipped unparsed); bench/portfolio.py, 1,000 boards on SQLite: 1.2 s with
JSON paths in SQL (``data['problems']``, ``data['steps']``), 0.15 s this way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlmodel import Session, col, delete

from service.db.tables import Board, BoardLabel, Revision, RevisionStream, Stream
from service.domain.contract_model import ContractMetrics, decode_metrics
from service.domain.portfolio import BoardStreams, StoredStream, has_labels
from service.domain.recurring import Occurrence
from service.domain.ruleset import Ruleset, StreamState
from service.domain.trends import MAX_REVISIONS, BoardRevision, Trend, follow_streams
from service.domain.trends import RevisionStream as TrendStream
from service.domain.utc import utc_iso
from service.rules_file import RulesError, parse_rules

MAX_LABELS = 20
LABEL_KEY = re.compile(r"[a-z0-9][a-z0-9_.-]{0,49}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class _StepTitle(msgspec.Struct):
    id: str
    title: str = ""


class _Problem(msgspec.Struct):
    id: str = ""
    text: str = ""
    step_id: str | None = None
    weight: int = 0


class _Problems(msgspec.Struct):
    """What the recurring problems read of a stored stream document."""

    problems: list[_Problem] = []
    steps: list[_StepTitle] = []


_PROBLEMS = msgspec.json.Decoder(_Problems)
_METRICS = msgspec.json.Decoder(ContractMetrics)
_METRICS_TEXT = sa.cast(col(RevisionStream.metrics), sa.Text)


def _metrics(text: str | None) -> ContractMetrics:
    """A stored ``metrics`` column (JSON text). msgspec decodes the well-formed ones in C; one
    with a malformed field (not what the import writes) goes through the contract model's
    tolerant decoder, so only that figure is unknown."""
    if text is None:
        return ContractMetrics()
    try:
        return _METRICS.decode(text)
    except msgspec.MsgspecError:
        try:
            return decode_metrics(json.loads(text))
        except ValueError:
            return ContractMetrics()


_DOCUMENT = sa.cast(col(RevisionStream.data), sa.Text)


def _problems(document: str | None) -> _Problems:
    """The problems and step titles of a stored document; none when not in the contract's
    shape."""
    try:
        return _PROBLEMS.decode(document or "{}")
    except msgspec.MsgspecError:
        return _Problems()


class LabelError(ValueError):
    """A label set that cannot be stored: the message says which label and why."""


def check_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Labels as stored: keys lower-case ``[a-z0-9][a-z0-9_.-]*`` up to 50 characters, values
    1-200 characters without control characters, trimmed; at most ``MAX_LABELS``."""
    if len(labels) > MAX_LABELS:
        raise LabelError(f"at most {MAX_LABELS} labels per board")
    checked: dict[str, str] = {}
    for key, value in labels.items():
        if not LABEL_KEY.fullmatch(key):
            raise LabelError(
                f"label key {key[:60]!r}: lower-case letters, digits, '_', '.', '-' "
                "(starting with a letter or digit), at most 50 characters"
            )
        text = " ".join(value.split())
        if not text or len(text) > 200 or _CONTROL.search(text):
            raise LabelError(f"label {key!r}: a value of 1 to 200 characters, one line")
        checked[key] = text
    return checked


def parse_label_filter(wanted: list[str]) -> dict[str, str]:
    """``["client:acme", "team: checkout"]`` -> ``{"client": "acme", "team": "checkout"}``."""
    parsed: dict[str, str] = {}
    for entry in wanted:
        key, colon, value = entry.partition(":")
        if not colon:
            raise LabelError(f"label filter {entry[:60]!r}: write key:value")
        parsed[key.strip().casefold()] = " ".join(value.split())
    return parsed


def board_labels(session: Session, board_id: int) -> dict[str, str]:
    rows = session.execute(
        sa.select(col(BoardLabel.key), col(BoardLabel.value))
        .where(col(BoardLabel.board_id) == board_id)
        .order_by(col(BoardLabel.key))
    ).all()
    return {key: value for key, value in rows}


def replace_labels(session: Session, board_id: int, labels: Mapping[str, str]) -> dict[str, str]:
    """Replace the board's labels with ``labels`` (already checked); the caller commits."""
    session.execute(delete(BoardLabel).where(col(BoardLabel.board_id) == board_id))
    for key, value in sorted(labels.items()):
        session.add(BoardLabel(board_id=board_id, key=key, value=value))
    return dict(sorted(labels.items()))


def _workspace_labels(session: Session, workspace_id: int) -> dict[int, dict[str, str]]:
    rows = session.execute(
        sa.select(col(BoardLabel.board_id), col(BoardLabel.key), col(BoardLabel.value))
        .join(Board, col(Board.id) == col(BoardLabel.board_id))
        .where(col(Board.workspace_id) == workspace_id)
        .order_by(col(BoardLabel.board_id), col(BoardLabel.key))
    ).all()
    labels: dict[int, dict[str, str]] = {}
    for board_id, key, value in rows:
        labels.setdefault(board_id, {})[key] = value
    return labels


def board_ruleset(rules: str | None, cache: dict[str, Ruleset]) -> Ruleset:
    """The ruleset of a board's stored rules file, given as JSON text (the defaults without
    one, or when the stored file no longer validates); ``cache`` shares the parse between
    boards with the same file."""
    text = rules or "null"
    if text not in cache:
        try:
            cache[text] = Ruleset() if text == "null" else parse_rules(json.loads(text))
        except (RulesError, ValueError):
            cache[text] = Ruleset()
    return cache[text]


def _latest_streams(workspace_id: int, *columns: Any) -> sa.Select[Any]:
    """``columns`` of every stream in the latest revision of the workspace's boards, in board
    order (boards by id, streams by their position on the board)."""
    return (
        sa.select(*columns)
        .join(Stream, col(Stream.board_id) == col(Board.id))
        .join(
            RevisionStream,
            sa.and_(
                col(RevisionStream.stream_id) == col(Stream.id),
                col(RevisionStream.revision_number) == col(Board.latest_revision_number),
            ),
        )
        .where(col(Board.workspace_id) == workspace_id)
        .order_by(col(Board.id), col(RevisionStream.position))
    )


def load_portfolio(
    session: Session, workspace_id: int, wanted: Mapping[str, str]
) -> list[tuple[BoardStreams, Ruleset]]:
    """The latest revision of every board of the workspace carrying the ``wanted`` labels,
    with its streams (board order) and the ruleset its comparison pairs streams with."""
    labels = _workspace_labels(session, workspace_id)
    query = _latest_streams(
        workspace_id,
        col(Board.id),
        col(Board.name),
        sa.cast(col(Board.rules), sa.Text),
        col(Board.latest_revision_number),
        col(RevisionStream.stream_id),
        col(Stream.key),
        col(RevisionStream.name),
        col(RevisionStream.state),
        _METRICS_TEXT,
    )
    boards: dict[int, tuple[str, str | None, int, list[StoredStream]]] = {}
    for (
        board_id,
        name,
        rules,
        number,
        stream_id,
        key,
        stream_name,
        state,
        metrics,
    ) in session.execute(query).all():
        if not has_labels(labels.get(board_id, {}), wanted):
            continue
        entry = boards.setdefault(board_id, (name, rules, number, []))
        entry[3].append(StoredStream(stream_id, key, stream_name, state, _metrics(metrics)))
    cache: dict[str, Ruleset] = {}
    return [
        (
            BoardStreams(board_id, name, number, streams, labels.get(board_id, {})),
            board_ruleset(rules, cache),
        )
        for board_id, (name, rules, number, streams) in boards.items()
    ]


def load_problems(
    session: Session, workspace_id: int, wanted: Mapping[str, str]
) -> list[Occurrence]:
    """Every problem on the latest revision's streams (all but target states) of the
    workspace's boards carrying the ``wanted`` labels."""
    labels = _workspace_labels(session, workspace_id)
    query = _latest_streams(
        workspace_id,
        col(Board.id),
        col(Board.name),
        col(RevisionStream.stream_id),
        col(Stream.key),
        col(RevisionStream.name),
        _DOCUMENT,
    ).where(col(RevisionStream.state) != StreamState.TARGET.value)
    found: list[Occurrence] = []
    for board_id, board_name, stream_id, key, stream_name, document in session.execute(query).all():
        if not has_labels(labels.get(board_id, {}), wanted):
            continue
        stored = _problems(document)
        titles = {step.id: step.title for step in stored.steps} if stored.problems else {}
        found.extend(
            Occurrence(
                board_id=board_id,
                board_name=board_name,
                stream_id=stream_id,
                stream_key=key,
                stream_name=stream_name,
                step_id=problem.step_id,
                step_title=None if problem.step_id is None else titles.get(problem.step_id),
                problem_id=problem.id,
                text=problem.text,
                votes=problem.weight,
            )
            for problem in stored.problems
        )
    return found


def load_revisions(session: Session, board: Board, upto: int | None = None) -> list[BoardRevision]:
    """The board's newest ``MAX_REVISIONS`` revisions (up to revision ``upto``, default the
    latest) with their streams in board order."""
    latest = (board.latest_revision_number or 0) if upto is None else upto
    first = latest - MAX_REVISIONS + 1
    revisions = {
        number: BoardRevision(number, utc_iso(created), [])
        for number, created in session.execute(
            sa.select(col(Revision.number), col(Revision.created_at)).where(
                col(Revision.board_id) == board.id,
                col(Revision.number) >= first,
                col(Revision.number) <= latest,
            )
        ).all()
    }
    rows = session.execute(
        sa.select(
            col(RevisionStream.revision_number),
            col(RevisionStream.stream_id),
            col(RevisionStream.name),
            col(RevisionStream.state),
            col(RevisionStream.data)["frame_id"],
            _METRICS_TEXT,
        )
        .join(Stream, col(Stream.id) == col(RevisionStream.stream_id))
        .where(
            col(Stream.board_id) == board.id,
            col(RevisionStream.revision_number) >= first,
            col(RevisionStream.revision_number) <= latest,
        )
        .order_by(col(RevisionStream.revision_number), col(RevisionStream.position))
    ).all()
    for number, stream_id, name, state, frame_id, metrics in rows:
        revision = revisions.get(number)
        if revision is None:
            continue
        frame = frame_id if isinstance(frame_id, str) else None
        assert isinstance(revision.streams, list)
        revision.streams.append(TrendStream(stream_id, name, state, frame, _metrics(metrics)))
    return [revisions[number] for number in sorted(revisions)]


def board_trends(session: Session, board: Board, upto: int | None = None) -> list[Trend]:
    """The board's streams followed across its revisions (up to ``upto``, default all)."""
    rules = None if board.rules is None else json.dumps(board.rules)
    return follow_streams(load_revisions(session, board, upto), board_ruleset(rules, {}))
