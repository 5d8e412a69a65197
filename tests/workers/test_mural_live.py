"""Live Mural wiring for workers: Celery tasks beside Miro's, and settings -> dependencies."""

from __future__ import annotations

from celery import Celery
from cryptography.fernet import Fernet
from pydantic import SecretStr

from service.mural_config import MuralSettings
from service.settings import Settings
from workers.live import FETCH_TASK as MIRO_FETCH
from workers.live import POLL_TASK as MIRO_POLL
from workers.live import register_live_tasks
from workers.mural_live import FETCH_TASK, POLL_TASK, build_mural_live, register_mural_tasks


def test_celery_gets_mural_fetch_and_poll_tasks_beside_the_miro_ones() -> None:
    app = Celery("test", broker="memory://", set_as_current=False)

    register_live_tasks(app, lambda: None, max_retries=2, poll_every_s=30.0)
    register_mural_tasks(app, lambda: None, max_retries=2, poll_every_s=45.0)

    assert {FETCH_TASK, POLL_TASK, MIRO_FETCH, MIRO_POLL} <= set(app.tasks)
    assert app.conf.beat_schedule[POLL_TASK] == {"task": POLL_TASK, "schedule": 45.0}
    assert app.conf.beat_schedule[MIRO_POLL] == {"task": MIRO_POLL, "schedule": 30.0}
    # Without Mural settings both tasks do nothing instead of failing.
    assert app.tasks[FETCH_TASK].run(1) is None
    assert app.tasks[POLL_TASK].run() is None


def test_mural_stays_off_with_a_reason_until_its_app_and_a_key_are_set() -> None:
    configured = MuralSettings(client_id="c", client_secret=SecretStr("s"))
    key = Fernet.generate_key().decode()

    off, why_off = build_mural_live(Settings(), None, None)  # type: ignore[arg-type]
    no_key, why_no_key = build_mural_live(Settings(mural=configured), None, None)  # type: ignore[arg-type]
    on, _ = build_mural_live(
        Settings(mural=configured, encryption_keys=[key]),
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
    )

    assert (off, no_key) == (None, None)
    assert "VSM_MURAL__CLIENT_ID" in why_off
    assert "VSM_ENCRYPTION_KEYS" in why_no_key
    assert on is not None
    assert on.app.token_url == "https://app.mural.co/api/public/v1/authorization/oauth2/token"
    assert on.app.refresh_url.endswith("/authorization/oauth2/refresh")
