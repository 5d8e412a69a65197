"""``vsm keys``, ``vsm db upgrade``, ``vsm worker`` and ``vsm serve --demo``."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from service.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sqlite_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("VSM_DATABASE_URL", url)
    monkeypatch.delenv("VSM_BROKER_URL", raising=False)
    return url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_db_upgrade_creates_the_schema(sqlite_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "db", "upgrade")

    assert status == 0
    assert "newest schema" in out
    tables = set(sa.inspect(sa.create_engine(sqlite_env)).get_table_names())
    assert {"workspace", "api_key", "board", "revision", "import_job"} <= tables


def test_a_key_is_printed_once_listed_by_prefix_and_revoked(
    sqlite_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, key, note = run(capsys, "keys", "create", "--workspace", "acme")
    secret = key.strip()
    prefix = "_".join(secret.split("_")[:2])

    _, listed, _ = run(capsys, "keys", "list")
    revoked_status, _, _ = run(capsys, "keys", "revoke", prefix)
    _, listed_after, _ = run(capsys, "keys", "list")

    assert status == revoked_status == 0
    assert "shown only now" in note
    assert listed.split()[:3] == [prefix, "acme", "active"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", listed.split()[3])
    assert secret not in listed
    assert listed_after.split()[:3] == [prefix, "acme", "revoked"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["keys", "revoke", "vsk_missing"], "no API key with prefix"),
        (["keys", "create", "--workspace", " "], "workspace name"),
    ],
)
def test_a_bad_key_command_is_one_line_and_exit_status_2(
    sqlite_env: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, out, err = run(capsys, *argv)

    assert status == 2
    assert out == ""
    assert err.startswith("vsm: error: ")
    assert message in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("command", ["worker", "beat"])
def test_worker_and_beat_without_a_broker_explain_the_embedded_default(
    sqlite_env: str, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    status, _, err = run(capsys, command)

    assert status == 2
    assert "VSM_BROKER_URL is not set" in err
    assert f"needs no `vsm {command}`" in err


def test_an_unreachable_database_is_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VSM_DATABASE_URL", "postgresql+psycopg://vsm:hunter2@127.0.0.1:1/vsm")

    status, _, err = run(capsys, "db", "upgrade")

    assert status == 2
    assert err.startswith("vsm: error: database error")
    assert "hunter2" not in err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_serve_demo_imports_the_examples_and_prints_working_curl_commands(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "VSM_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "VSM_LOG_FORMAT": "console",
    }
    env.pop("VSM_BROKER_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--demo", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        while len(lines) < 40 and "/web/login/" not in (lines[-1] if lines else ""):
            lines.append(process.stdout.readline())
        key = re.search(r"(vsk_\S+)", lines[0])
        assert key, lines
        streams_url = re.search(r"(http://\S+/v1/streams/\d+)\s*$", "".join(lines[5:6]))
        assert streams_url, lines
        headers = {"Authorization": f"Bearer {key.group(1)}"}
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(streams_url.group(1), headers=headers, timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "vsm serve did not answer"
                time.sleep(0.2)
        boards = httpx.get(f"http://127.0.0.1:{port}/v1/boards", headers=headers).json()
        login = re.fullmatch(r"\s+(http://\S+/web/login/\S+)\s*", lines[-1])
        assert login, lines
        with httpx.Client() as browser:
            signed_in = browser.get(login.group(1))
            board_list = browser.get(f"http://127.0.0.1:{port}/web/boards")
            used_again = httpx.get(login.group(1))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)

    assert response.status_code == 200
    assert response.json()["stream"]["steps"]
    assert sorted(b["provider"] for b in boards["items"]) == ["miro", "mural"]
    assert signed_in.status_code == 200
    assert board_list.status_code == 200
    assert all(b["name"].split()[0] in board_list.text for b in boards["items"])
    assert used_again.status_code == 410


def test_serve_on_a_busy_port_says_to_use_port_before_printing_a_key(
    sqlite_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, out, err = run(capsys, "serve", "--demo", "--port", str(port))

    assert status == 2
    assert out == ""
    assert "--port" in err
    assert err.count("\n") == 1
    assert "vsk_" not in err


def test_serve_on_an_empty_database_says_how_to_create_the_first_key(
    sqlite_env: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    started: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: started.append(kwargs))
    monkeypatch.setenv("VSM_LISTEN_URL", "")  # `vsm serve` sets it; restored after the test

    status, _, err = run(capsys, "serve", "--port", str(free_port()))

    assert status == 0
    assert "vsm keys create --workspace NAME" in err
    assert len(started) == 1


@pytest.mark.redis
def test_health_says_beat_is_healthy_when_its_broker_answers_and_no_worker_is_not(
    sqlite_env: str,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("VSM_BROKER_URL", redis_url)
    monkeypatch.setenv("VSM_BROKER_QUEUE", f"health-{os.getpid()}")

    beat_status, _, _ = run(capsys, "health", "beat", "--timeout", "3")
    worker_status, _, err = run(capsys, "health", "worker", "--timeout", "0.5")

    assert beat_status == 0
    assert worker_status == 2
    assert err.startswith("vsm: error: no worker of host")
    assert err.count("\n") == 1


def test_worker_metrics_without_a_multiprocess_folder_is_one_line_and_exit_status_2(
    sqlite_env: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VSM_WORKER_METRICS_PORT", "9109")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)

    status, _, err = run(capsys, "worker")

    assert status == 2
    assert len(err.strip().splitlines()) == 1
    assert "PROMETHEUS_MULTIPROC_DIR" in err
