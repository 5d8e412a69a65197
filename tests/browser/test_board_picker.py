"""Connecting Miro in headless Chromium: the boards page's Connect button, consent at the
stand-in Miro, the callback's "connected" page, the board picker and its import button.
Screenshots go to ``test-output/``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlmodel import Session

from service.api.app import create_app
from service.db.engine import create_db_engine
from service.db.migrate import upgrade_database
from service.settings import MiroSettings, Settings
from service.usecases.keys import create_api_key
from testkit.builders import to_miro_dump
from testkit.standins.miro_server import MiroStandIn
from testkit.standins.serving import serve
from tests.api.live_flow import workshop_shapes
from tests.browser.conftest import OUTPUT, _serve, bound_socket, require_chromium
from tests.browser.test_report_page import Observed, browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

__all__ = ["browser"]

BOARD = "uXjVO1a2b3c="


@dataclass(frozen=True)
class LiveMiro:
    base: str
    key: str
    miro_url: str


@pytest.fixture(scope="module")
def live_miro(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveMiro]:
    """The API with Miro configured against a stand-in Miro, both on real sockets."""
    require_chromium()
    database = f"sqlite:///{tmp_path_factory.mktemp('picker') / 'valuestream.db'}"
    engine = create_db_engine(database)
    upgrade_database(engine)
    with Session(engine) as session:
        key = create_api_key(session, "picker-tests").secret
        session.commit()
    sock = bound_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    callback = f"{base}/v1/oauth/miro/callback"
    miro = MiroStandIn(redirect_uri=callback)
    miro.add_board(to_miro_dump(workshop_shapes(), name="Order to cash <workshop>"))
    with serve(miro.app()) as miro_url:
        settings = Settings(
            database_url=database,
            broker_url=None,
            encryption_keys=[Fernet.generate_key().decode()],
            public_base_url=base,
            rate_limit=None,
            miro=MiroSettings(
                client_id=miro.client_id,
                client_secret=SecretStr(miro.client_secret),
                redirect_uri=callback,
                api_url=miro_url,
                auth_url=f"{miro_url}/oauth/authorize",
            ),
        )
        app = create_app(settings, engine=engine, migrate=False, configure_logs=False)
        for served in _serve(app, sock):
            yield LiveMiro(served, key, miro_url)
    engine.dispose()


def test_connecting_miro_in_a_browser_ends_on_a_picker_that_imports_the_board(
    browser: Any, live_miro: LiveMiro
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    seen = Observed()
    page.on("pageerror", lambda e: seen.page_errors.append(str(e)))
    page.on("request", lambda r: seen.requests.append(r.url))
    try:
        page.goto(f"{live_miro.base}/web/login")
        page.fill("#api_key", live_miro.key)
        page.click("form.narrow button[type=submit]")
        page.wait_for_load_state("load")

        page.click("a:text-is('Connect Miro')")  # consent at the stand-in is automatic
        page.wait_for_load_state("load")
        connected = page.inner_text("h1")
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "oauth-connected.png"), full_page=True)

        page.click("a:text-is('Pick the boards to import')")
        page.wait_for_load_state("load")
        picker_title = page.inner_text("h1")
        listed = page.inner_text("ul.cards")
        page.screenshot(path=str(OUTPUT / "board-picker.png"), full_page=True)

        page.click("button:text-is('Import this board')")
        page.wait_for_load_state("load")
        board_url = page.url
        board_text = page.inner_text("main")
    finally:
        context.close()

    assert connected == "Miro connected"
    assert picker_title == "Pick Miro boards to import"
    assert "Order to cash <workshop>" in listed  # shown as text, escaped in the markup
    assert "/web/boards/" in board_url
    assert BOARD in board_text
    assert seen.page_errors == []
    # Only our server and the provider's consent page were visited; nothing else was fetched.
    assert all(url.startswith((live_miro.base, live_miro.miro_url)) for url in seen.requests)
