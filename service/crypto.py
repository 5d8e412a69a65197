"""The one Fernet keyring: every secret at rest (OAuth tokens, webhook secrets) is sealed with
``VSM_ENCRYPTION_KEYS``, newest key first; MultiFernet opens with any listed key, so keys rotate
without re-consent or new secrets."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

NEW_KEY_HINT = (
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)


class KeyringError(Exception):
    """No usable key, or a blob no configured key opens: the message says what to do."""


class Keyring:
    """Fernet encryption with the configured keys; ``newest`` is the first key's raw bytes
    (for deriving signing keys that rotate with it)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise KeyringError(
                f"VSM_ENCRYPTION_KEYS is empty: set one or more Fernet keys ({NEW_KEY_HINT})"
            )
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
            self.newest = base64.urlsafe_b64decode(keys[0].encode())
        except (ValueError, TypeError) as exc:
            raise KeyringError("VSM_ENCRYPTION_KEYS holds a key that is not a Fernet key") from exc

    def encrypt(self, text: str) -> bytes:
        return self._fernet.encrypt(text.encode())

    def decrypt(self, blob: bytes, *, what: str = "a stored secret") -> str:
        """The plain text; :class:`KeyringError` naming ``what`` when no configured key opens it."""
        try:
            return self._fernet.decrypt(blob).decode()
        except InvalidToken:
            raise KeyringError(
                f"{what} cannot be decrypted (was its key removed from VSM_ENCRYPTION_KEYS?)"
            ) from None
