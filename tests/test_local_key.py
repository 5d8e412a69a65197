"""The embedded default keeps a generated encryption key beside its database; deployments don't."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from service.local_key import KEY_FILE, with_local_key
from service.settings import Settings


def test_a_laptop_run_generates_a_private_key_once_and_reuses_it(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'data' / 'vsm.db'}", broker_url=None)

    first = with_local_key(settings)
    second = with_local_key(settings)

    key_file = tmp_path / "data" / KEY_FILE
    assert first.encryption_keys == second.encryption_keys
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    Fernet(first.encryption_keys[0].encode())  # a usable Fernet key


@pytest.mark.parametrize(
    "overrides",
    [
        {"encryption_keys": ["configured"]},
        {"broker_url": "redis://127.0.0.1:6379/0"},
        {"database_url": "postgresql+psycopg://u@db/vsm"},
        {"database_url": "sqlite://"},
    ],
)
def test_deployments_get_no_generated_key(tmp_path: Path, overrides: dict[str, object]) -> None:
    base = {"database_url": f"sqlite:///{tmp_path / 'vsm.db'}", "broker_url": None}
    settings = Settings(**{**base, **overrides})

    assert with_local_key(settings).encryption_keys == settings.encryption_keys
    assert not (tmp_path / KEY_FILE).exists()
