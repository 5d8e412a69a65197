"""Authorization states: signed and timestamped (itsdangerous), bound to provider and
workspace, single use, ten minutes."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from itsdangerous import TimestampSigner
from sqlmodel import Session

from service.usecases.connections import (
    STATE_TTL,
    StateError,
    TokenCipher,
    begin_authorization,
    consume_state,
)
from service.usecases.keys import create_api_key

CIPHER = TokenCipher([Fernet.generate_key().decode()])


def _issue(
    db_session: Session, provider: str = "miro", code_verifier: str | None = None
) -> tuple[int, str]:
    workspace = create_api_key(db_session, "acme").workspace.id
    assert workspace is not None
    state = begin_authorization(
        db_session, CIPHER, workspace, provider, code_verifier=code_verifier
    )
    db_session.commit()
    return workspace, state


def test_a_state_is_consumed_once_with_its_verifier(db_session: Session) -> None:
    workspace, state = _issue(db_session, "mural", code_verifier="v" * 64)

    row = consume_state(db_session, CIPHER, "mural", state)

    assert (row.workspace_id, row.code_verifier) == (workspace, "v" * 64)
    with pytest.raises(StateError, match="already used"):
        consume_state(db_session, CIPHER, "mural", state)


def test_a_state_of_one_provider_is_not_one_of_another(db_session: Session) -> None:
    _, state = _issue(db_session, "miro")

    with pytest.raises(StateError, match="not ours"):
        consume_state(db_session, CIPHER, "mural", state)


def test_a_state_signed_under_another_key_is_not_ours(db_session: Session) -> None:
    _, state = _issue(db_session)
    other = TokenCipher([Fernet.generate_key().decode()])

    with pytest.raises(StateError, match="not ours"):
        consume_state(db_session, other, "miro", state)


def test_the_signed_timestamp_expires_the_state_after_ten_minutes(
    db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, state = _issue(db_session)
    now = TimestampSigner.get_timestamp
    later = int(STATE_TTL.total_seconds()) + 2
    # The signer's clock, moved past the state's lifetime (the stored row would still be valid).
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: now(self) + later)

    with pytest.raises(StateError, match="expired"):
        consume_state(db_session, CIPHER, "miro", state)
