"""API keys: shown once, stored hashed, listed by prefix, revocable."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from service.db.tables import ApiKey
from service.usecases.errors import NotFoundError
from service.usecases.keys import (
    KeyCache,
    authenticate,
    create_api_key,
    list_api_keys,
    revoke_api_key,
)


def test_a_new_key_authenticates_its_workspace_and_only_its_hash_is_stored(
    db_session: Session,
) -> None:
    new = create_api_key(db_session, "acme")
    db_session.commit()

    stored = db_session.exec(select(ApiKey)).one()
    assert authenticate(db_session, new.secret) == new.workspace.id
    assert new.secret.startswith(stored.prefix + "_")
    assert new.secret not in (stored.key_hash, stored.prefix)


def test_keys_of_one_workspace_share_it(db_session: Session) -> None:
    first = create_api_key(db_session, "acme")
    second = create_api_key(db_session, "acme")

    assert first.workspace.id == second.workspace.id
    assert first.key.prefix != second.key.prefix
    assert [k.prefix for k, _ in list_api_keys(db_session)] == [first.key.prefix, second.key.prefix]


def test_a_revoked_key_no_longer_authenticates(db_session: Session) -> None:
    new = create_api_key(db_session, "acme")

    revoke_api_key(db_session, new.key.prefix)

    assert authenticate(db_session, new.secret) is None


@pytest.mark.parametrize("secret", ["", "vsk_", "Bearer x", "vsk_" + "a" * 500])
def test_garbage_never_authenticates(db_session: Session, secret: str) -> None:
    create_api_key(db_session, "acme")

    assert authenticate(db_session, secret) is None


def test_revoking_an_unknown_prefix_is_not_found(db_session: Session) -> None:
    with pytest.raises(NotFoundError):
        revoke_api_key(db_session, "vsk_00000000")


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_a_workspace_name_must_be_sensible(db_session: Session, name: str) -> None:
    with pytest.raises(ValueError, match="workspace name"):
        create_api_key(db_session, name)


def test_the_key_cache_forgets_a_key_after_its_time_to_live() -> None:
    now = [0.0]
    cache = KeyCache(ttl_s=1.0, clock=lambda: now[0])
    cache.remember("vsk_a_secret", 7)

    now[0] = 0.99
    remembered = cache.workspace_of("vsk_a_secret")
    now[0] = 1.0
    forgotten = cache.workspace_of("vsk_a_secret")

    assert (remembered, forgotten) == (7, None)


def test_the_key_cache_keeps_no_secret_and_stays_bounded() -> None:
    cache = KeyCache(clock=lambda: 0.0, max_entries=3)
    for n in range(10):
        cache.remember(f"vsk_key_{n}", n)

    held = [n for n in range(10) if cache.workspace_of(f"vsk_key_{n}") is not None]

    assert len(held) <= 3
    assert 9 in held
    assert not any("vsk_key" in entry for entry in vars(cache)["_entries"])
