"""Logging set-up: our events at the configured level, libraries' start-up chatter quieted."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys

import httpx
import pytest
import respx
import structlog

from connectors.http import Clock, request
from service.logs import configure_logging


def test_alembic_sqlalchemy_and_the_pool_info_stays_off_the_screen_while_ours_shows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "console")

    logging.getLogger("alembic.runtime.plugins").info("setup plugin alembic.autogenerate.schemas")
    logging.getLogger("sqlalchemy.engine").info("BEGIN (implicit)")
    logging.getLogger("psycopg.pool").info("connection requested from 'vsm-loop-reads'")
    logging.getLogger("alembic.runtime.migration").warning("a migration warning")
    structlog.get_logger("service.api.app").info("api_started")

    shown = capsys.readouterr().err
    assert "setup plugin" not in shown
    assert "BEGIN (implicit)" not in shown
    assert "connection requested" not in shown
    assert "a migration warning" in shown
    assert "api_started" in shown


class _Stream:
    def __init__(self, tty: bool) -> None:
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(
    ("configured", "tty", "used"),
    [
        ("auto", True, "console"),
        ("auto", False, "json"),
        ("json", True, "json"),
        ("console", False, "console"),
    ],
)
def test_logs_are_readable_on_a_terminal_and_json_elsewhere_unless_configured(
    configured: str, tty: bool, used: str
) -> None:
    from service.logs import resolve_log_format

    assert resolve_log_format(configured, _Stream(tty)) == used


@respx.mock
def test_a_retry_line_of_a_provider_call_carries_its_call_try_seconds_and_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    respx.get("https://api.miro.test/v2/boards/b1").mock(
        side_effect=[httpx.Response(502), httpx.Response(200, json={})]
    )

    async def call() -> None:
        async with httpx.AsyncClient() as http:
            await request(
                http,
                "GET",
                "https://api.miro.test/v2/boards/b1",
                clock=Clock(time=lambda: 1000.0, sleep=_no_sleep),
                rand=lambda: 0.5,
            )

    asyncio.run(call())

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    (retry,) = [line for line in lines if line["event"] == "server error, retrying"]
    assert {k: retry[k] for k in ("call", "try", "seconds", "status")} == {
        "call": "GET /v2/boards/b1",
        "try": 1,
        "seconds": 0.25,
        "status": 502,
    }


async def _no_sleep(seconds: float) -> None:
    return None


def test_log_lines_follow_a_replaced_stderr_and_a_closed_one_is_not_written_to(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_logging("INFO", "json")
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    structlog.get_logger("service.test").info("first_line")
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)

    structlog.get_logger("service.test").info("second_line")

    assert "second_line" in second.getvalue()
    assert "Logging error" not in second.getvalue()
