"""SQLite: a trigger is written on the event loop when the write lock is free, on a worker
thread when it is not, and a long run of triggers keeps the write-ahead log short."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.db.engine import create_db_engine
from service.db.migrate import upgrade_database
from service.db.urls import sqlite_file
from service.settings import Settings
from service.webhooks import runtime as hook_runtime
from testkit.service_dumps import stream_dump
from tests.api.conftest import import_dump, make_workspace
from tests.webhooks.conftest import KEY, HookedBoard


@pytest.fixture
def quiet_board(tmp_path: Path) -> Iterator[HookedBoard]:
    """A hooked board in a SQLite file of its own whose triggers start no import (a debounce
    of an hour)."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'valuestream.db'}",
        upload_dir=tmp_path / "uploads",
        encryption_keys=[KEY],
        webhooks={"debounce_s": 3600.0},
        rate_limit=None,
        log_format="console",
    )
    engine = create_db_engine(settings.database_url)
    upgrade_database(engine)
    owner = make_workspace(engine, "alice")
    app = create_app(settings, engine=engine, migrate=False, configure_logs=False)
    try:
        with TestClient(app) as client:
            job = import_dump(client, owner, stream_dump(2))
            board = HookedBoard(client, owner, job["board_id"], "")
            board.secret = board.rotate()["secret"]
            yield board
    finally:
        engine.dispose()


def _database_file(board: HookedBoard) -> Path:
    engine = board.client.app.state.runtime.engine  # type: ignore[attr-defined]
    path = sqlite_file(str(engine.url))
    assert path is not None
    return path


def test_a_trigger_waits_on_a_worker_thread_while_another_connection_writes(
    quiet_board: HookedBoard, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks = quiet_board.client.app.state.runtime.hooks  # type: ignore[attr-defined]
    waiting = threading.Event()
    real = hooks.trigger_transaction

    @contextmanager
    def noted() -> Iterator[Any]:
        waiting.set()
        with real() as tx:
            yield tx

    monkeypatch.setattr(hooks, "trigger_transaction", noted)
    other = sqlite3.connect(_database_file(quiet_board), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # an import, say, holds the write lock
    answers: list[int] = []
    sender = threading.Thread(target=lambda: answers.append(quiet_board.post().status_code))
    sender.start()
    try:
        # The loop's attempt gives up at once (its connection never waits) and the trigger
        # goes to a worker thread, which waits for the lock; a loop that waited would hold
        # every other request up for the busy timeout (15 s).
        assert waiting.wait(10)
    finally:
        other.execute("ROLLBACK")
        other.close()
        sender.join(30)

    assert answers == [202]
    assert [entry["outcome"] for entry in quiet_board.log()] == ["accepted"]


def test_a_long_run_of_triggers_keeps_the_log_short(
    quiet_board: HookedBoard, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The loop's connection never checkpoints; one trigger in CHECKPOINT_EVERY goes to a pooled
    # connection, whose commit does. Here: one in 4, and the pool checkpoints past one page.
    monkeypatch.setattr(hook_runtime, "CHECKPOINT_EVERY", 4)
    engine = quiet_board.client.app.state.runtime.engine  # type: ignore[attr-defined]

    def eager(dbapi_connection: Any, _record: object, _proxy: object) -> None:
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=1")

    sa.event.listen(engine, "checkout", eager)
    log_file = Path(f"{_database_file(quiet_board)}-wal")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        sizes = []
        for _ in range(5):
            assert [quiet_board.post().status_code for _ in range(8)] == [202] * 8
            sizes.append(log_file.stat().st_size)
    finally:
        sa.event.remove(engine, "checkout", eager)

    assert len(quiet_board.log()) == 40
    # Unchecked, the log would grow with every trigger: five times its size after the first 8.
    assert sizes[-1] <= 2 * sizes[0], sizes
