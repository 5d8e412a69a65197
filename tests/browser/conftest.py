"""A real API server (uvicorn on a random local port, embedded worker, SQLite) with the German
example board imported through ``POST /v1/imports``, plus two hostile stickies, and a headless
Chromium driven by Playwright.

Chromium missing: the browser tests skip locally and fail in CI (``CI=true``), like the other
tests that need a server.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlmodel import Session

from service.api.app import create_app
from service.db.engine import create_db_engine
from service.db.migrate import upgrade_database
from service.settings import Settings
from service.usecases.keys import create_api_key

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "miro-abo-workshop.json"
OUTPUT = ROOT / "test-output"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# What a hostile workshop participant writes on a sticky (entity-encoded in Miro's HTML, so the
# normalized text is the markup itself), and raw markup Miro would pass through.
HOSTILE_TEXT = (
    "&lt;img src=x onerror=&quot;window.__pwned=1;alert(1)&quot;&gt;"
    "&lt;script&gt;window.__pwned=1;alert(1)&lt;/script&gt; Paywall kaputt"
)
HOSTILE_RAW = '<script>window.__pwned=2</script><img src=x onerror="window.__pwned=2">Paywall'


def require_chromium() -> None:
    """Skip locally, fail in CI, when the browser or its driver is missing."""
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} not found (Debian packages chromium and chromium-driver)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed"
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{problem}; CI must provide it", pytrace=False)
    pytest.skip(f"{problem}; install it to run the browser tests")


def hostile_dump() -> dict[str, Any]:
    """The example board with a hostile problem sticky and a hostile step sticky in Ist."""
    dump: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    template = next(
        item
        for item in dump["items"]
        if item["type"] == "sticky_note" and "Paywall sehen" in item["data"]["content"]
    )
    problem = copy.deepcopy(template)
    problem["id"] = "3458764699999990001"
    problem["data"]["content"] = f"<p>{HOSTILE_TEXT}</p>"
    problem["style"]["fillColor"] = "red"
    problem["position"]["y"] += 250
    step = copy.deepcopy(template)
    step["id"] = "3458764699999990002"
    step["data"]["content"] = HOSTILE_RAW
    step["position"]["y"] -= 300
    dump["items"] += [problem, step]
    return dump


@dataclass(frozen=True)
class LiveApi:
    base: str
    key: str
    board_id: int
    stream_count: int
    share_url: str
    database_url: str = ""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def bound_socket() -> socket.socket:
    """A socket on a free local port, bound before the app exists (its URL goes into the
    app's settings)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def _serve(app: Any, sock: socket.socket | None = None) -> Iterator[str]:
    sock = sock or bound_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    require_chromium()
    database = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'valuestream.db'}"
    engine = create_db_engine(database)
    upgrade_database(engine)
    with Session(engine) as session:
        key = create_api_key(session, "browser-tests").secret
        session.commit()
    settings = Settings(
        database_url=database,
        broker_url=None,
        encryption_keys=["browser-tests-key-0123456789abcdef"],
        public_base_url="http://127.0.0.1:1",
    )
    app = create_app(settings, engine=engine, migrate=False, configure_logs=False)
    for base in _serve(app):
        # The share link must point at this server, whose port is known only now.
        settings.public_base_url = base
        auth = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
            job = client.post("/v1/imports", json=hostile_dump())
            assert job.status_code == 202, job.text
            job_id = job.json()["id"]
            deadline = time.monotonic() + 60
            while True:
                state = client.get(f"/v1/imports/{job_id}").json()
                if state["status"] in ("succeeded", "failed", "unchanged"):
                    break
                assert time.monotonic() < deadline, f"import did not finish: {state}"
                time.sleep(0.1)
            assert state["status"] == "succeeded", state
            board_id = state["board_id"]
            streams = client.get(f"/v1/boards/{board_id}/streams").json()["items"]
            share = client.post(f"/v1/boards/{board_id}/share")
            assert share.status_code == 201, share.text
        yield LiveApi(base, key, board_id, len(streams), share.json()["url"], database)
    engine.dispose()
