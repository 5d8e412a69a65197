"""The secret box that keeps webhook secrets at rest (Fernet, keys from ``VSM_ENCRYPTION_KEYS``)."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretBoxError(Exception):
    """No usable encryption key: the message says what to set."""


class SecretBox:
    """Fernet encryption of webhook secrets with the settings' keys (newest first, rotatable)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SecretBoxError(
                "webhook secrets are stored encrypted: set VSM_ENCRYPTION_KEYS to one or more "
                "Fernet keys (python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')"
            )
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except (ValueError, TypeError) as exc:
            raise SecretBoxError(
                "VSM_ENCRYPTION_KEYS holds a key that is not a Fernet key"
            ) from exc

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def open(self, blob: bytes) -> str:
        """The secret; ``SecretBoxError`` when no configured key opens it."""
        try:
            return self._fernet.decrypt(blob).decode()
        except InvalidToken:
            raise SecretBoxError(
                "a stored webhook secret cannot be decrypted (was its key removed from "
                "VSM_ENCRYPTION_KEYS?): rotate the secret"
            ) from None
